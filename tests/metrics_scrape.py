"""Reading `GET /metrics` in tests: every sample by name and labels, with prometheus_client's own parser."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from prometheus_client.parser import text_string_to_metric_families


@dataclass
class Scrape:
    text: str
    types: dict[str, str]  # family name -> counter, gauge, histogram
    samples: dict[tuple[str, frozenset], float]  # (sample name, its labels) -> value

    def value(self, name: str, **labels: str) -> float:
        """The sample's value; 0 when there is none (a counter not yet counted)."""
        return self.samples.get((name, frozenset(labels.items())), 0.0)

    def has(self, name: str, **labels: str) -> bool:
        return (name, frozenset(labels.items())) in self.samples

    def labels(self, name: str) -> list[dict[str, str]]:
        return [dict(labels) for sample, labels in self.samples if sample == name]


def scrape(client: httpx.Client | str) -> Scrape:
    answer = client.get("/metrics") if isinstance(client, httpx.Client) else httpx.get(f"{client}/metrics")
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/plain; version=0.0.4")
    types, samples = {}, {}
    for family in text_string_to_metric_families(answer.text):
        types[family.name] = family.type
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return Scrape(answer.text, types, samples)
