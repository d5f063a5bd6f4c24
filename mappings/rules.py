"""A loaded mapping: identity and field rules per object (or event) type, with templates compiled.

`FieldRule.to_local` turns a remote value into an attribute (the `in` template, then `type`); `to_remote` turns an
attribute into the value to write (the `out` template). Null goes through both as null without running the
template: an unset remote value clears the attribute, a cleared attribute clears the remote value.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mappings.errors import MappingValueError
from mappings.identities import normalise_identity
from mappings.paths import lookup
from mappings.templates import Expression, TemplateFailure
from mappings.types import CoercionError, coerce


@dataclass(frozen=True)
class IdentityRule:
    kind: str
    path: str

    def value(self, data: dict) -> str | None:
        """The normalised identity at `path`, or None when it is absent, null or empty."""
        present, raw = lookup(data, self.path)
        return normalise_identity(self.kind, raw) if present else None


@dataclass(frozen=True)
class FieldRule:
    path: str
    attribute: str
    direction: str = "one-way"
    type: str | None = None
    conflict: str = "newest"
    in_template: Expression | None = field(default=None, compare=False, repr=False)
    out_template: Expression | None = field(default=None, compare=False, repr=False)
    file: str = field(default="", compare=False, repr=False)
    object: str = field(default="", compare=False, repr=False)  # the object or event type, for errors

    @property
    def reads(self) -> bool:
        """The remote value flows in (one-way, two-way)."""
        return self.direction != "out"

    @property
    def writes(self) -> bool:
        """The attribute flows out to the vendor (two-way, out)."""
        return self.direction != "one-way"

    def remote(self, data: dict) -> tuple[bool, Any]:
        """(present, raw value at `path`); (False, None) when the record does not have it."""
        return lookup(data, self.path)

    def to_local(self, raw: Any, data: dict) -> Any:
        """The attribute value for remote value `raw` of record `data`: `in`, then `type`. MappingValueError."""
        if raw is None:
            return None
        value = raw
        if self.in_template is not None:
            value = self._render(self.in_template, "in", value=raw, record=data)
        try:
            return coerce(value, self.type)
        except CoercionError as exc:
            raise MappingValueError(self.file, self.object, self.attribute, f"type {self.type}: {exc}") from None

    def to_remote(self, value: Any, attributes: dict) -> Any:
        """The value to write for attribute `value` of a profile with `attributes`: `out`, else unchanged."""
        if value is None or self.out_template is None:
            return value
        return self._render(self.out_template, "out", value=value, attributes=attributes)

    def _render(self, template: Expression, which: str, **variables: Any) -> Any:
        try:
            return template.render(**variables)
        except TemplateFailure as exc:
            raise MappingValueError(self.file, self.object, self.attribute, f"{which} {template.source!r}: {exc}") \
                from exc


@dataclass(frozen=True)
class ObjectRules:
    name: str
    identities: tuple[IdentityRule, ...] = ()
    fields: tuple[FieldRule, ...] = ()

    def identities_of(self, data: dict) -> list[tuple[str, str]]:
        """[(kind, normalised value)] of the record, without repeats, in the order of the rules."""
        out: list[tuple[str, str]] = []
        for rule in self.identities:
            value = rule.value(data)
            if value is not None and (rule.kind, value) not in out:
                out.append((rule.kind, value))
        return out

    def field_for(self, attribute: str) -> FieldRule | None:
        """The field that maps `attribute` (at most one per object)."""
        return next((f for f in self.fields if f.attribute == attribute), None)


@dataclass
class Mapping:
    file: str
    bridge: str
    objects: dict[str, ObjectRules] = field(default_factory=dict)
    events: dict[str, ObjectRules] = field(default_factory=dict)

    def for_object(self, object_type: str) -> ObjectRules | None:
        return self.objects.get(object_type)

    def for_event(self, event_type: str) -> ObjectRules | None:
        """The rules of `event_type`, else of "*", else None."""
        if event_type in self.events:
            return self.events[event_type]
        return self.events.get("*")

    def written_attributes(self) -> set[str]:
        """Every attribute some two-way or out field writes to the vendor."""
        return {f.attribute for rules in self.objects.values() for f in rules.fields if f.writes}

    @property
    def path(self) -> Path:
        return Path(self.file)
