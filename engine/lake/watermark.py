"""How far a node's events are in the lake: `<store_id>:<ingest_seq>`, the highest `events.ingest_seq` of the node's
store that the lake holds.

It is committed in the same Iceberg commit as the rows it covers, twice: as a table property
`inlet.watermark.<node>` (what a node reads back at start; properties outlive snapshot expiry) and in the
snapshot's summary (`inlet.node`, `inlet.watermark`: which commit brought what, for people and audits). A commit
that fails leaves neither; one that lands has both, so a node that dies at any moment reads back exactly what the lake
holds. The store id tells this node's store from another store that took the same node name: continuing from that
store's number would skip or double events, so the export refuses instead.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyiceberg.table import Table

PREFIX = "inlet.watermark."


@dataclass(frozen=True)
class Watermark:
    store_id: str
    seq: int

    def __str__(self) -> str:
        return f"{self.store_id}:{self.seq}"

    @classmethod
    def parse(cls, text: str) -> Watermark:
        store_id, _, seq = text.rpartition(":")
        return cls(store_id, int(seq))


def read(table: Table, node: str) -> Watermark | None:
    """The node's watermark in `table` as loaded (refresh it first to see other nodes' commits)."""
    text = table.properties.get(PREFIX + node)
    return Watermark.parse(text) if text else None


def nodes_of_store(table: Table, store_id: str) -> list[str]:
    """The nodes whose watermark in `table` came from the store `store_id` (one, unless the store changed names)."""
    return sorted(key[len(PREFIX):] for key, value in table.properties.items()
                  if key.startswith(PREFIX) and Watermark.parse(value).store_id == store_id)


def properties(node: str, mark: Watermark) -> dict[str, str]:
    """The table property that carries the node's watermark."""
    return {PREFIX + node: str(mark)}


def summary(node: str, mark: Watermark) -> dict[str, str]:
    """The snapshot summary properties of an export commit."""
    return {"inlet.node": node, "inlet.watermark": str(mark)}
