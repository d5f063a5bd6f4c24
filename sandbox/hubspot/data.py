"""The sandbox's portal: owners and the contacts, companies and deals, and every change made to them.

One `HubSpotSandbox` is one HubSpot account. It is plain in-memory Python, deterministic from `seed`, and reads
time only from the injectable `now` clock, so tests can move time (rate-limit windows, search lag).

Every write stamps the last-modified property and `updatedAt` with `now()` in ms, never below the previous
stamp (so they only rise or stay equal, even if the clock steps back); a bulk change stamps all its records with
one millisecond, as HubSpot's bulk updates do.
"""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

from sandbox.faults import FaultyWrites
from sandbox.hubspot import values
from sandbox.hubspot.errors import conflict
from sandbox.hubspot.objects import ALIASES, KINDS, Schema
from sandbox.hubspot.records import Rec, Store, iso, render
from sandbox.hubspot.seed import seed_owners, seed_store
from sandbox.hubspot.writes import derive, normalize

HUBSPOT_TOKEN = "pat-na1-sandbox"


class Change(NamedTuple):
    """One record changed, as `HubSpotSandbox.listeners` are told of it (webhook senders build events from it)."""

    kind: str  # contacts, companies, deals
    action: str  # created, updated, archived, restored
    old: Rec | None  # the version before (None when created); records are never changed in place
    new: Rec
    group: int  # the same for every change of one write call (one stamp: a mutate, a batch, a single write)
    source: str  # HubSpot's changeSource: API for the HTTP API, CRM_UI for the sandbox's own helpers


class HubSpotSandbox(FaultyWrites):
    """An emulated HubSpot portal: `contacts` contacts, `companies` companies (default contacts // 4), `deals`
    deals (default contacts // 2), `owners` active owners (plus a few deactivated ones), each object type with its
    default properties and `extra_properties` generated custom ones.

    `search_lag`: seconds before a change is visible to the search endpoints (HubSpot's search index is
    eventually consistent); until then search sees the record as it was before (or not at all if new)."""

    def __init__(self, seed: int = 1, contacts: int = 200, companies: int | None = None, deals: int | None = None,
                 owners: int = 10, tokens: Iterable[str] = (HUBSPOT_TOKEN,), now: Callable[[], float] = time.time,
                 extra_properties: int = 40, search_lag: float = 0.0) -> None:
        self.seed = seed
        self.now = now
        self.tokens = frozenset(tokens)
        self.search_lag = search_lag
        self.requests = 0  # every HTTP request the app answered, errors and 429s included
        self.rate_limited = 0  # 429s sent
        self.mutations = 0
        self.stores = {name: Store(Schema(kind, extra_properties)) for name, kind in KINDS.items()}
        rng = random.Random(seed)
        now_ms = int(now() * 1000)
        self.owners = seed_owners(rng, owners, now_ms)
        self.owner_ids = [o["id"] for o in self.owners if not o["archived"]]
        self.company_names: list[str] = []
        counts = {"companies": contacts // 4 if companies is None else companies, "contacts": contacts,
                  "deals": contacts // 2 if deals is None else deals}
        collecting = gc.isenabled()
        gc.disable()  # seeding builds many dicts and nothing cyclic: collection passes only cost
        try:
            for name in ("companies", "contacts", "deals"):  # contacts work at seeded companies, deals name them
                seed_store(self, self.stores[name], random.Random(f"{seed}:{name}"), counts[name], now_ms,
                           self.company_names)
        finally:
            if collecting:
                gc.enable()
        self._last_ms = max((r.updated_ms for s in self.stores.values() for r in s.by_id.values()), default=0)
        self._stamp: tuple[int, str] = (-1, "")
        self.stamps = 0  # stamps taken: one per write call, so it groups the changes of one call
        self.listeners: list[Callable[[Change], None]] = []  # told of every change after seeding
        self.change_source = "API"

    # -- lookups -----------------------------------------------------------------------------------------------

    def store(self, object_type: str) -> Store:
        """The store of `contacts`/`0-1`/`contact` (and likewise for companies, deals); KeyError otherwise."""
        return self.stores[ALIASES[object_type]]

    def stamp(self) -> tuple[int, str]:
        """Now in ms and as ISO, never before the previous stamp."""
        ms = max(int(self.now() * 1000), self._last_ms)
        self._last_ms = ms
        self.stamps += 1
        if self._stamp[0] != ms:
            self._stamp = (ms, iso(ms))
        return self._stamp

    def records(self, object_type: str) -> list[dict]:
        """Every live record as the API renders it with all properties."""
        store = self.store(object_type)
        names, lastmod = store.schema.names, store.kind.lastmod
        return [render(store.by_id[i], names, lastmod) for i in store.live]

    def record(self, object_type: str, object_id: int | str) -> dict:
        """One record (archived ones too) with all properties; KeyError if there is none."""
        store = self.store(object_type)
        return render(store.by_id[int(object_id)], store.schema.names, store.kind.lastmod)

    # -- changes -----------------------------------------------------------------------------------------------

    def apply(self, store: Store, rec: Rec, changes: dict[str, str | None], *, archived_at: str | bool | None = False,
              stamp: tuple[int, str] | None = None) -> Rec:
        """A new version of `rec` with `changes` (None clears), stamped now; `archived_at` False keeps the
        archived state. Contacts' emails stay unique among live contacts (409 otherwise)."""
        ms, text = stamp or self.stamp()
        email = changes.get("email")
        if email and store.emails.get(email, rec.id) != rec.id:
            raise conflict(f"Contact already exists. Existing ID: {store.emails[email]}")
        props = dict(rec.props)
        for name, value in changes.items():
            if value is None:
                props.pop(name, None)
            else:
                props[name] = value
        props[store.kind.lastmod] = text
        if changes:
            derive(store.kind.name, props)
        archived = rec.archived_at if archived_at is False else archived_at
        new = Rec(rec.id, props, rec.created_ms, ms, archived, rec if self.search_lag > 0 else None)
        store.put(rec, new)
        if self.listeners:
            was, now = rec.archived_at is not None, archived is not None
            self._notify(store, "updated" if was == now else "archived" if now else "restored", rec, new)
        return new

    def create_record(self, store: Store, changes: dict[str, str | None],
                      stamp: tuple[int, str] | None = None) -> Rec:
        ms, text = stamp or self.stamp()
        email = changes.get("email")
        if email and email in store.emails:
            raise conflict(f"Contact already exists. Existing ID: {store.emails[email]}")
        object_id = store.last_id + 1
        props = {name: value for name, value in changes.items() if value is not None}
        props.update({"createdate": text, store.kind.lastmod: text, "hs_object_id": str(object_id)})
        derive(store.kind.name, props)
        rec = Rec(object_id, props, ms, ms)
        store.add(rec)
        if self.listeners:
            self._notify(store, "created", None, rec)
        return rec

    def _notify(self, store: Store, action: str, old: Rec | None, new: Rec) -> None:
        change = Change(store.kind.name, action, old, new, self.stamps, self.change_source)
        for listener in self.listeners:
            listener(change)

    @contextmanager
    def _by_user(self) -> Iterator[None]:
        """Changes made through the sandbox's own helpers, as a user in HubSpot's UI would make them."""
        previous, self.change_source = self.change_source, "CRM_UI"
        try:
            yield
        finally:
            self.change_source = previous

    def update(self, object_type: str, object_id: int | str, properties: dict) -> dict:
        """Change one record as a HubSpot user would (read-only properties allowed), stamped now."""
        store = self.store(object_type)
        rec = store.by_id[int(object_id)]
        with self._by_user():
            new = self.apply(store, rec, normalize(store.schema, properties, internal=True))
        return render(new, store.schema.names, store.kind.lastmod)

    def archive(self, object_type: str, object_id: int | str) -> None:
        store = self.store(object_type)
        rec = store.by_id[int(object_id)]
        if rec.archived_at is None:
            stamp = self.stamp()
            with self._by_user():
                self.apply(store, rec, {}, archived_at=stamp[1], stamp=stamp)

    def restore(self, object_type: str, object_id: int | str) -> None:
        store = self.store(object_type)
        rec = store.by_id[int(object_id)]
        if rec.archived_at is not None:
            with self._by_user():
                self.apply(store, rec, {}, archived_at=None)

    def mutate(self, object_type: str = "contacts", updates: int = 0, archives: int = 0,
               creates: int = 0) -> dict[str, list[str]]:
        """Simulate activity now: `updates` live records edited, `archives` others archived, `creates` new ones,
        all stamped with the same millisecond. Deterministic for a seed and call sequence."""
        with self._by_user():
            return self._mutate(object_type, updates, archives, creates)

    def _mutate(self, object_type: str, updates: int, archives: int, creates: int) -> dict[str, list[str]]:
        self.mutations += 1
        rng = random.Random(f"{self.seed}:mutate:{self.mutations}")
        store = self.store(object_type)
        kind = store.kind.name
        picked = rng.sample(store.live, min(updates + archives, len(store.live)))
        stamp = self.stamp()
        updated, archived = picked[:updates], picked[updates:]
        owners = self.owner_ids
        for object_id in updated:
            self.apply(store, store.by_id[object_id], values.changes(kind, rng, owners), stamp=stamp)
        for object_id in archived:
            self.apply(store, store.by_id[object_id], {}, archived_at=stamp[1], stamp=stamp)
        created = []
        domains = {r.props.get("domain", "") for r in store.by_id.values()} if kind == "companies" else set()
        for _ in range(creates):
            if kind == "contacts":
                props = values.contact(rng, owners, self.company_names, store.emails)
            elif kind == "companies":
                props = values.company(rng, owners, domains)
                self.company_names.append(props["name"])
            else:
                props = values.deal(rng, owners, self.company_names, stamp[0], stamp[0])
            created.append(self.create_record(store, props, stamp).id)
        return {"updated": [str(i) for i in updated], "archived": [str(i) for i in archived],
                "created": [str(i) for i in created]}
