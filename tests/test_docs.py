"""The README's example queries run, and config.example.yaml is a working config."""

from __future__ import annotations

import re

import httpx
import pytest

from tests.conftest import ROOT, free_port, inlet


def readme_queries() -> list[str]:
    return re.findall(r"```sql\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)


def test_the_example_config_validates_and_serves(serve_process, tmp_path):
    result = inlet("validate", config=ROOT / "config.example.yaml", check=True)
    assert ": ok, 7 sources (1 hubspot, 1 redirect, 1 shopify, 1 stripe, 3 webhook)" in result.stdout
    config = tmp_path / "inlet.yaml"
    text = (ROOT / "config.example.yaml").read_text().replace("port: 8686", f"port: {free_port()}")
    config.write_text(text.replace("every: 1h", "every: 1d"))
    proc = serve_process(config)
    r = httpx.post(f"{proc.url}/collect/page-view/app/v1", json={}, headers={"Authorization": "Bearer change-me"})
    assert r.status_code == 200


@pytest.mark.xdist_group("demo")
def test_the_readme_analyst_queries_run_and_answer(demo):
    assert len(readme_queries()) == 4
    result, directory = demo
    assert result.returncode == 0, result.stdout + result.stderr
    cfg = directory / "inlet.yaml"
    # the pricing-then-signup query needs a visitor who did just that, in that order
    for query in readme_queries():
        result = inlet("sql", query, "--format", "json", config=cfg)
        assert result.returncode == 0, f"{query}\n{result.stderr}"
        assert result.stdout.strip() not in ("", "[]"), query
