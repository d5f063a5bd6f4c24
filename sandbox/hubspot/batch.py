"""The batch endpoints (VENDOR_FACTS 1.5): read, update, upsert, create, archive; at most 100 inputs each.

Results are `{"status":"COMPLETE","results",...,"startedAt","completedAt"}`; when some inputs name records that
do not exist the status is 207 and the body adds `numErrors` and `errors`. Invalid property values fail the whole
batch (400) before anything is written, as a single write would. One batch stamps all its records with the same
millisecond.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.hubspot.errors import conflict, validation
from sandbox.hubspot.handlers import NO_PROPERTIES, find, flag
from sandbox.hubspot.records import Rec, Store, iso, render, render_set
from sandbox.hubspot.writes import normalize

if TYPE_CHECKING:
    from starlette.datastructures import QueryParams

    from sandbox.hubspot.data import HubSpotSandbox

MAX_INPUTS = 100
OPERATIONS = ("read", "update", "upsert", "create", "archive")


def run(sb: HubSpotSandbox, store: Store, operation: str, params: QueryParams, body: object) -> tuple[int, dict | None]:
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list):
        raise validation("Invalid input JSON on line 1, column 1: the batch request needs an `inputs` list")
    inputs = body["inputs"]
    if len(inputs) > MAX_INPUTS:
        # Wording [UNCONFIRMED]; the cap of 100 is widely documented.
        raise validation(f"Batch input size exceeds the limit of {MAX_INPUTS}: got {len(inputs)} inputs.")
    if not all(isinstance(i, dict) for i in inputs):
        raise validation("Invalid input JSON on line 1, column 1: each input must be an object")
    started = iso(int(sb.now() * 1000))
    if operation == "read":
        return _read(store, inputs, body, flag(params, "archived"), started)
    if operation == "archive":
        stamp = sb.stamp()
        for item in inputs:
            rec = find(store, str(item.get("id", "")), None)
            if rec is not None:
                sb.apply(store, rec, {}, archived_at=stamp[1], stamp=stamp)
        return 204, None
    if operation == "create":
        return _create(sb, store, inputs, started)
    if operation == "update":
        return _update(sb, store, inputs, started)
    return _upsert(sb, store, inputs, started)


def _envelope(results: list[dict], started: str, missing: list[str], store: Store) -> tuple[int, dict]:
    out: dict = {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": started}
    if not missing:
        return 200, out
    # The message HubSpot sends for unknown ids in a batch [OBSERVED wording, recalled].
    message = (f"Could not get some {store.kind.singular.upper()} objects, they may be deleted or not exist. "
               "Check that ids are valid.")
    out["numErrors"] = 1
    out["errors"] = [{"status": "error", "category": "OBJECT_NOT_FOUND", "message": message,
                      "context": {"ids": missing}, "errors": [], "links": {}}]
    return 207, out


def _read(store: Store, inputs: list[dict], body: dict, archived: bool, started: str) -> tuple[int, dict]:
    names_in = body.get("properties")
    if names_in is not None and not isinstance(names_in, list):
        raise validation("Invalid input JSON on line 1, column 1: `properties` must be a list of property names")
    names = store.schema.requested([str(n) for n in names_in] if names_in else None)
    id_property = body.get("idProperty")
    results, missing, seen = [], [], set()
    for item in inputs:
        key = str(item.get("id", ""))
        rec = find(store, key, id_property, archived)
        if rec is None:
            missing.append(key)
        elif rec.id not in seen:
            seen.add(rec.id)
            results.append(render(rec, names, store.kind.lastmod))
    return _envelope(results, started, missing, store)


def _duplicates(keys: list[str]) -> None:
    seen, dupes = set(), []
    for key in keys:
        if key in seen and key not in dupes:
            dupes.append(key)
        seen.add(key)
    if dupes:
        raise validation(f"Duplicate IDs found in batch input: [{', '.join(dupes)}]. IDs must be unique")


def _changes(store: Store, item: dict) -> dict[str, str | None]:
    values = item.get("properties")
    if not values:
        raise validation(NO_PROPERTIES)
    return normalize(store.schema, values)


def _update(sb: HubSpotSandbox, store: Store, inputs: list[dict], started: str) -> tuple[int, dict]:
    keys = [str(item.get("id", "")) for item in inputs]
    _duplicates(keys)
    planned: list[tuple[Rec, dict]] = []
    missing = []
    for key, item in zip(keys, inputs, strict=True):
        changes = _changes(store, item)
        rec = find(store, key, item.get("idProperty"))
        if rec is None:
            missing.append(key)
        else:
            planned.append((rec, changes))
    _email_conflicts(store, planned)
    stamp = sb.stamp()
    results = [render_set(sb.apply(store, store.by_id[rec.id], changes, stamp=stamp), store.kind.lastmod)
               for rec, changes in planned]
    return _envelope(results, started, missing, store)


def _email_conflicts(store: Store, planned: list[tuple[Rec, dict]]) -> None:
    """A contact's email is unique: a batch giving one that another contact holds (or two inputs the same one)
    is refused whole, before anything is written, like an invalid value."""
    claimed: dict[str, int] = {}
    for rec, changes in planned:
        email = changes.get("email")
        if not email:
            continue
        holder = store.emails.get(email, rec.id)
        if holder != rec.id or claimed.setdefault(email, rec.id) != rec.id:
            raise conflict(f"Contact already exists. Existing ID: {holder if holder != rec.id else claimed[email]}")


def _create(sb: HubSpotSandbox, store: Store, inputs: list[dict], started: str) -> tuple[int, dict]:
    planned = [normalize(store.schema, item.get("properties") or {}) for item in inputs]
    emails = [c["email"] for c in planned if c.get("email")]
    for email in emails:
        if email in store.emails:
            raise conflict(f"Contact already exists. Existing ID: {store.emails[email]}")
    if len(set(emails)) != len(emails):
        raise conflict("Contact already exists. Duplicate emails in batch input.")  # [UNCONFIRMED wording]
    stamp = sb.stamp()
    results = [render_set(sb.create_record(store, changes, stamp), store.kind.lastmod) for changes in planned]
    return 201, {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": started}


def _upsert(sb: HubSpotSandbox, store: Store, inputs: list[dict], started: str) -> tuple[int, dict]:
    """Upsert by a unique property: `email` for contacts (the only one the sandbox's types have)."""
    planned = []
    for item in inputs:
        id_property = item.get("idProperty")
        if id_property != "email" or store.kind.name != "contacts":
            # Wording [UNCONFIRMED]; upserts need a unique-value idProperty, and email is contacts' one.
            raise validation(f"Upsert requires an idProperty with unique values; {id_property!r} is not one for "
                             f"{store.kind.name}")
        changes = normalize(store.schema, {**(item.get("properties") or {}), "email": item.get("id")})
        if not changes.get("email"):
            raise validation("Upsert inputs need an id (the email address)")
        planned.append(changes)
    _duplicates([c["email"] for c in planned])
    stamp = sb.stamp()
    results = []
    for changes in planned:
        existing = store.emails.get(changes["email"])
        if existing is None:
            rec, new = sb.create_record(store, changes, stamp), True
        else:
            rec, new = sb.apply(store, store.by_id[existing], changes, stamp=stamp), False
        results.append({**render_set(rec, store.kind.lastmod), "new": new})
    return 200, {"status": "COMPLETE", "results": results, "startedAt": started, "completedAt": started}
