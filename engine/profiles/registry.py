"""Every source's compiled mapping, indexed the ways the profile code asks: the rules of a source's object or
event type, and which sources write which attributes back."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from engine.config import Config


@dataclass
class Registry:
    mappings: dict[str, Any] = field(default_factory=dict)  # source id -> mappings.Mapping
    # source id -> object type -> the rules that write (two-way, out)
    _writes: dict[str, dict[str, tuple]] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        for source_id, mapping in self.mappings.items():
            for object_type, rules in mapping.objects.items():
                writing = tuple(f for f in rules.fields if f.writes)
                if writing:
                    self._writes.setdefault(source_id, {})[object_type] = writing

    @classmethod
    def of(cls, config: Config) -> Registry:
        return cls(dict(config.mappings))

    def object_rules(self, source_id: str, object_type: str):
        mapping = self.mappings.get(source_id)
        return None if mapping is None else mapping.for_object(object_type)

    def event_rules(self, source_id: str, event_type: str):
        mapping = self.mappings.get(source_id)
        return None if mapping is None else mapping.for_event(event_type)

    def writes(self, source_id: str, object_type: str) -> tuple:
        """The fields of the source's object type that inlet writes back (empty when none)."""
        return self._writes.get(source_id, {}).get(object_type, ())

    @property
    def writes_anything(self) -> bool:
        return bool(self._writes)

    def writing_sources(self) -> list[str]:
        return sorted(self._writes)

    def __bool__(self) -> bool:
        return bool(self.mappings)
