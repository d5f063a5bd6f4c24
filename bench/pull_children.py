"""The contenders of bench/pull.py other than inlet, each run in a child process of its own:
`python bench/pull_children.py ceiling|dlt|dlt-parquet BASE_URL WORK_DIR`.

  ceiling       an httpx.Client loop that parses each page's JSON and discards it; prints the count as JSON
  dlt           dlt's rest_api source into WORK_DIR/dlt.duckdb, with dlt's default settings
  dlt-parquet   the same with `loader_file_format="parquet"`
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import httpx
from pull import KEY, PAGE


def child_ceiling(base: str) -> None:
    """Fetch every page, parse it, keep nothing but the count; print the count as JSON."""
    records = pages = 0
    params: dict[str, str | int] = {"limit": PAGE}
    with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {KEY}"}, timeout=30) as client:
        while True:
            response = client.get("/v1/customers", params=params)
            response.raise_for_status()
            body = response.json()
            pages += 1
            records += len(body["data"])
            if not body["has_more"] or not body["data"]:
                break
            params["starting_after"] = body["data"][-1]["id"]
    print(json.dumps({"records": records, "pages": pages}))


def child_dlt(base: str, work: Path, parquet: bool) -> None:
    """dlt's rest_api source with a Stripe cursor paginator, loaded into `work/dlt.duckdb`."""
    import dlt
    from dlt.sources.helpers.rest_client.paginators import BasePaginator
    from dlt.sources.rest_api import rest_api_source

    class StripeCursor(BasePaginator):
        """Stripe's list cursor: the next page starts after the last item's id; `has_more` says if there is one."""

        def __init__(self) -> None:
            super().__init__()
            self.last_id: str | None = None

        def update_state(self, response, data=None) -> None:
            self.last_id = data[-1]["id"] if data else None
            self._has_next_page = self.last_id is not None and response.json().get("has_more") is True

        def update_request(self, request) -> None:
            if self.last_id is not None:
                request.params["starting_after"] = self.last_id

    source = rest_api_source({
        "client": {"base_url": base, "auth": {"type": "bearer", "token": KEY}, "paginator": StripeCursor()},
        "resources": [{"name": "customers",
                       "endpoint": {"path": "v1/customers", "params": {"limit": PAGE}, "data_selector": "data"}}],
    })
    pipeline = dlt.pipeline(pipeline_name="stripe_pull", pipelines_dir=str(work / "pipelines"),
                            destination=dlt.destinations.duckdb(str(work / "dlt.duckdb")), dataset_name="stripe")
    info = pipeline.run(source, loader_file_format="parquet" if parquet else None)
    info.raise_on_failed_jobs()


def main(argv: list[str]) -> int:
    name, base, work = argv
    if name == "ceiling":
        child_ceiling(base)
    elif name in ("dlt", "dlt-parquet"):
        child_dlt(base, Path(work), parquet=name == "dlt-parquet")
    else:
        raise SystemExit(f"unknown contender {name!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
