"""Seeding: owners, then companies, contacts and deals created over the last two years, deterministic for a seed.

Ids rise with creation time (as HubSpot's do) with small random gaps; each record was last modified somewhere
between its creation and a minute ago. Generated custom properties are set on a few records each (most values
of most of them are null, as in a real portal).
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from sandbox.hubspot import values
from sandbox.hubspot.properties import DEFAULTS
from sandbox.hubspot.records import Rec, iso
from sandbox.hubspot.writes import derive

if TYPE_CHECKING:
    from sandbox.hubspot.data import HubSpotSandbox
    from sandbox.hubspot.records import Store

SPAN_MS = 730 * values.DAY_MS
TEAMS = (("4501", "Sales EMEA"), ("4502", "Sales Americas"), ("4503", "Customer Success"))
MAX_FILLED = 40  # at most this many custom properties set per record


def seed_owners(rng: random.Random, count: int, now_ms: int) -> list[dict]:
    """`count` active owners plus count // 10 (at least one) deactivated ones, which `archived=true` lists."""
    owners = []
    owner_id, user_id = 51_000_000, 7_400_000
    archived = max(1, count // 10) if count else 0
    names: set[str] = set()
    for n in range(count + archived):
        owner_id += values.between(rng, 1, 5000)
        user_id += values.between(rng, 1, 900)
        first, last = values.pick(rng, values.FIRST), values.pick(rng, values.LAST)
        email = values.unique(f"{first}.{last}@sandbox-sales.example.com".lower(), names)
        names.add(email)
        created = now_ms - SPAN_MS - values.between(rng, 0, 400 * values.DAY_MS)
        team_id, team = values.pick(rng, TEAMS)
        owners.append({"id": str(owner_id), "email": email, "type": "PERSON", "firstName": first, "lastName": last,
                       "userId": user_id, "userIdIncludingInactive": user_id, "createdAt": iso(created),
                       "updatedAt": iso(created + values.between(rng, 0, SPAN_MS)), "archived": n >= count,
                       "teams": [{"id": team_id, "name": team, "primary": True}]})
    return owners


def seed_store(sb: HubSpotSandbox, store: Store, rng: random.Random, count: int, now_ms: int,
               company_names: list[str]) -> None:
    kind = store.kind.name
    owners = sb.owner_ids
    r = rng.random
    created = sorted(now_ms - 60_000 - int(r() * SPAN_MS) for _ in range(count))
    defaults = {p.name for p in DEFAULTS[kind]}
    extras = [p for p in store.schema.props.values() if p.name not in defaults]
    makers = [(p.name, values.value_maker(p, now_ms)) for p in extras]
    most = min(MAX_FILLED, round(len(makers) * 0.3)) + 1
    lastmod = store.kind.lastmod
    taken: set[str] = set()
    recs = []
    object_id = store.kind.id_base
    for created_ms in created:
        object_id += 1 + int(r() * 3)
        updated_ms = created_ms + int(r() * (now_ms - 60_000 - created_ms))
        if kind == "contacts":
            props = values.contact(rng, owners, company_names, taken)
            taken.add(props["email"])
        elif kind == "companies":
            props = values.company(rng, owners, taken)
            company_names.append(props["name"])
        else:
            props = values.deal(rng, owners, company_names, created_ms, now_ms)
        if makers:  # up to `most` random custom properties (a repeat just sets one twice)
            n = len(makers)
            for _ in range(int(r() * most)):
                name, make = makers[int(r() * n)]
                props[name] = make(rng)
        props["createdate"] = iso(created_ms)
        props[lastmod] = iso(updated_ms)
        props["hs_object_id"] = str(object_id)
        derive(kind, props)
        recs.append(Rec(object_id, props, created_ms, updated_ms))
    store.load(recs)

