"""Write-back to HubSpot (VENDOR_FACTS 1.5): `POST /crm/v3/objects/{type}/batch/update`, at most 100 inputs a
call, through the source's client and its rolling-window limiter.

- 200: every input was written. 207: the errors name the ids they concern (`context.ids`); those are
  rejected with HubSpot's message, those in `results` are sent, any left unexplained are sent again alone.
- A 4xx for the whole batch (HubSpot refuses the entire batch when one input is invalid, e.g. an unknown
  property or an enumeration value it does not allow): each input is sent alone with
  `PATCH /crm/v3/objects/{type}/{id}`, so only the invalid ones are rejected, each with HubSpot's words.
  A 403 missing scope rejects the batch as it is: no input of it could pass.
- Values as HubSpot stores them: text; booleans "true"/"false"; lists joined with ";" (multi-checkbox);
  None as "" (clears the property).
- A batch holds an id once (HubSpot refuses duplicate ids); a second change to the same record goes in a
  later batch, so it is applied after the first.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

from connectors.hubspot.objects import CRM_OBJECTS, CrmObject
from connectors.kit import SourceClient
from connectors.kit.writes import NOT_SENT, PASSING, Answer, WriteIn, WriteOutcome, plain, send, vendor_text

BATCH = 100
PREFIX = "properties."
# What mappings/writable.py lets a mapping write: deals are read only in inlet.
BY_TYPE: dict[str, CrmObject] = {"contact": CRM_OBJECTS["contacts"], "company": CRM_OBJECTS["companies"]}
ERROR_STATUS = {"OBJECT_NOT_FOUND": 404, "CONFLICT": 409}  # a 207's errors carry a category, not a status


class Halted(Exception):
    """A passing failure ended the call: the items not yet sent are to be retried later."""

    def __init__(self, status: int | None, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def encode(value: Any) -> str:
    """A value as a HubSpot property value (always text)."""
    if value is None:
        return ""
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=str) if isinstance(value, set | frozenset) else value
        return ";".join(encode(v) for v in items)
    if isinstance(value, dict):
        raise ValueError("a HubSpot property holds text, not an object")
    return plain(value)


class HubSpotWriter:
    def __init__(self, client: SourceClient) -> None:
        self.client = client

    async def write(self, items: list[WriteIn]) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome | None] = [None] * len(items)
        groups: dict[str, list[tuple[int, dict[str, str]]]] = {}
        for i, item in enumerate(items):
            obj = BY_TYPE.get(item.object_type)
            if obj is None:
                outcomes[i] = WriteOutcome.rejected(item, None, f"HubSpot write-back supports the object types "
                                                    f"{', '.join(BY_TYPE)}, not {item.object_type!r}")
                continue
            properties, problem = _properties(item)
            if problem is not None:
                outcomes[i] = WriteOutcome.rejected(item, None, problem)
                continue
            groups.setdefault(obj.name, []).append((i, properties))
        halted: Halted | None = None
        for name, entries in groups.items():
            for batch in _batches(entries, items):
                note = NOT_SENT
                if halted is None:
                    try:
                        await self._batch(CRM_OBJECTS[name], batch, items, outcomes)
                        continue
                    except Halted as exc:
                        halted, note = exc, ""
                for i, _ in batch:
                    if outcomes[i] is None:
                        outcomes[i] = WriteOutcome.retry(items[i], halted.status, note + halted.message)
        assert all(o is not None for o in outcomes)
        return outcomes  # type: ignore[return-value]

    async def _batch(self, obj: CrmObject, batch: list[tuple[int, dict[str, str]]], items: list[WriteIn],
                     outcomes: list[WriteOutcome | None]) -> None:
        body = {"inputs": [{"id": items[i].external_id, "properties": props} for i, props in batch]}
        answer = await self._send("POST", f"{obj.path}/batch/update", obj, json_body=body)
        if answer.status == 200:
            for i, _ in batch:
                outcomes[i] = WriteOutcome.sent(items[i], 200)
            return
        if answer.status == 207:
            alone = self._multi_status(answer, batch, items, outcomes)
        elif answer.ok:  # another 2xx: HubSpot took the batch
            for i, _ in batch:
                outcomes[i] = WriteOutcome.sent(items[i], answer.status)
            return
        elif len(batch) == 1 or _category(answer.body) == "MISSING_SCOPES":
            for i, _ in batch:
                outcomes[i] = WriteOutcome.rejected(items[i], answer.status, self._message(answer))
            return
        else:
            alone = batch
        for i, props in alone:
            await self._one(obj, i, props, items, outcomes)

    def _multi_status(self, answer: Answer, batch: list[tuple[int, dict[str, str]]], items: list[WriteIn],
                      outcomes: list[WriteOutcome | None]) -> list[tuple[int, dict[str, str]]]:
        """Map a 207's results and errors to the batch's items; returns those neither names."""
        body = answer.body if isinstance(answer.body, dict) else {}
        done = {str(r.get("id")) for r in body.get("results") or [] if isinstance(r, dict)}
        failed: dict[str, tuple[int, str]] = {}
        for error in body.get("errors") or []:
            if not isinstance(error, dict):
                continue
            status = ERROR_STATUS.get(str(error.get("category")), 400)
            for key in _error_ids(error):
                failed.setdefault(key, (status, self._message(Answer(status, error, answer.headers))))
        rest = []
        for i, props in batch:
            key = items[i].external_id
            if key in failed:
                status, message = failed[key]
                outcomes[i] = WriteOutcome.rejected(items[i], status, message)
            elif key in done:
                outcomes[i] = WriteOutcome.sent(items[i], 207)
            else:
                rest.append((i, props))
        return rest

    async def _one(self, obj: CrmObject, i: int, props: dict[str, str], items: list[WriteIn],
                   outcomes: list[WriteOutcome | None]) -> None:
        item = items[i]
        path = f"{obj.path}/{quote(item.external_id, safe='')}"
        answer = await self._send("PATCH", path, obj, json_body={"properties": props})
        if answer.ok:
            outcomes[i] = WriteOutcome.sent(item, answer.status)
        else:
            outcomes[i] = WriteOutcome.rejected(item, answer.status, self._message(answer))

    async def _send(self, method: str, path: str, obj: CrmObject, *, json_body: Any) -> Answer:
        try:
            return await send(self.client, method, path, object_name=obj.name, json_body=json_body)
        except PASSING as exc:  # retries spent, or the daily quota (back tomorrow): send these later
            raise Halted(exc.status, exc.message) from None

    def _message(self, answer: Answer) -> str:
        """HubSpot's words: each `errors[].message` (one per bad property), else the top-level `message`."""
        body = answer.body
        if not isinstance(body, dict):
            return vendor_text(self.client, f"HTTP {answer.status}: {body or 'no body'}")
        details = [str(e["message"]) for e in body.get("errors") or [] if isinstance(e, dict) and e.get("message")]
        text = "; ".join(details) if details else str(body.get("message") or f"HTTP {answer.status}")
        return vendor_text(self.client, text)


def _properties(item: WriteIn) -> tuple[dict[str, str], str | None]:
    if not item.changes:
        return {}, "no changes to write"
    properties: dict[str, str] = {}
    for path, value in item.changes.items():
        name = path[len(PREFIX):] if path.startswith(PREFIX) else ""
        if not name or "." in name:
            return {}, f"HubSpot write-back takes paths `properties.<name>`, not {path!r}"
        try:
            properties[name] = encode(value)
        except ValueError as exc:
            return {}, f"{path}: {exc}"
    return properties, None


def _batches(entries: list[tuple[int, dict[str, str]]], items: list[WriteIn]) -> Iterator[list[tuple[int, dict]]]:
    """Up to BATCH entries each, an id at most once per batch, in the items' order for each record."""
    pending = list(entries)
    while pending:
        batch, ids, later = [], set(), []
        for entry in pending:
            key = items[entry[0]].external_id
            if len(batch) < BATCH and key not in ids:
                batch.append(entry)
                ids.add(key)
            else:
                later.append(entry)
                ids.add(key)  # a record waiting for a later batch keeps its later changes behind it
        yield batch
        pending = later


def _error_ids(error: dict) -> list[str]:
    context = error.get("context") if isinstance(error.get("context"), dict) else {}
    ids = [str(v) for key in ("ids", "id") for v in (context.get(key) or [])]
    if error.get("id") is not None:
        ids.append(str(error["id"]))
    return ids


def _category(body: Any) -> str | None:
    return body.get("category") if isinstance(body, dict) else None

