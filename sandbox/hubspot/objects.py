"""The CRM object types the sandbox serves, with what differs between them (VENDOR_FACTS 1.2)."""

from __future__ import annotations

from dataclasses import dataclass, field

import orjson

from sandbox.hubspot.properties import DEFAULTS, Prop, custom_properties


@dataclass(frozen=True, slots=True)
class ObjectKind:
    name: str  # contacts
    type_id: str  # 0-1
    singular: str  # contact
    lastmod: str  # the last-modified property: lastmodifieddate for contacts, hs_lastmodifieddate otherwise
    defaults: tuple[str, ...]  # properties returned when a request names none
    searchable: tuple[str, ...]  # properties the free-text `query` of search looks in
    id_base: int  # seeded ids start above this


KINDS: dict[str, ObjectKind] = {
    "contacts": ObjectKind("contacts", "0-1", "contact", "lastmodifieddate",
                           ("createdate", "email", "firstname", "hs_object_id", "lastmodifieddate", "lastname"),
                           ("firstname", "lastname", "email", "phone", "company", "hs_object_id"), 100_000),
    "companies": ObjectKind("companies", "0-2", "company", "hs_lastmodifieddate",
                            ("name", "domain", "createdate", "hs_lastmodifieddate", "hs_object_id"),
                            ("name", "domain", "website", "phone", "hs_object_id"), 30_000_000),
    "deals": ObjectKind("deals", "0-3", "deal", "hs_lastmodifieddate",
                        ("dealname", "amount", "closedate", "pipeline", "dealstage", "createdate",
                         "hs_lastmodifieddate", "hs_object_id"),
                        ("dealname", "pipeline", "dealstage", "hs_object_id"), 60_000_000),
}
# Every spelling a path may use for a type: the plural name, the `0-x` id, and the singular (HubSpot infers
# the type from any of them).
ALIASES: dict[str, str] = {}
for _kind in KINDS.values():
    ALIASES.update({_kind.name: _kind.name, _kind.type_id: _kind.name, _kind.singular: _kind.name})


@dataclass
class Schema:
    """One object type's properties in one sandbox: the defaults plus `extra` generated ones."""

    kind: ObjectKind
    extra: int
    props: dict[str, Prop] = field(init=False)
    names: tuple[str, ...] = field(init=False)  # every property name, in definition order
    _api: bytes | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        defs = DEFAULTS[self.kind.name] + custom_properties(self.kind.name, self.extra)
        self.props = {p.name: p for p in defs}
        self.names = tuple(self.props)

    def add(self, prop: Prop) -> None:
        """A property created through the properties API."""
        self.props[prop.name] = prop
        self.names = tuple(self.props)
        self._api = None

    def api_body(self) -> bytes:
        """`{"results": [...]}` for the properties API, rendered once."""
        if self._api is None:
            results = [p.as_api(i) for i, p in enumerate(self.props.values())]
            self._api = orjson.dumps({"results": results})
        return self._api

    def requested(self, names: list[str] | None) -> tuple[str, ...]:
        """The properties a request names, unknown ones dropped ("unknown names ignored"); its defaults if none.
        `createdate`, `hs_object_id` and the last-modified property come back whatever was asked, as responses
        captured from HubSpot show [OBSERVED]."""
        if names is None:
            return self.kind.defaults
        props = self.props
        base = ("createdate", "hs_object_id", self.kind.lastmod)
        return tuple(dict.fromkeys([*base, *(n for n in names if n in props)]))
