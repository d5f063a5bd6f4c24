"""Write-back to Stripe (VENDOR_FACTS 3.5): `POST /v1/customers/{id}`, form-encoded, through the source's client
and limiter, a few customers at a time.

Paths: `email`, `name`, `phone`, `description`, `metadata.<key>`, `address.<line1|line2|city|state|
postal_code|country>`. None is sent as an empty value, which unsets the field or metadata key.

Idempotency-Key: `inlet-<writeback_id>-<hash of the form body>`. The same write sent again (a kit retry after
a timeout, or the outbox's next pass) carries the same key and is replayed rather than run twice; changes
merged into a pending write-back since make a different body, hence a new key, never Stripe's
`idempotency_error`. Stripe saves a 500 under its key and replays it for 24 hours: a 5xx answered with
`Idempotent-Replayed: true` makes the next attempt use a fresh key (`…-r1`, `-r2`), which is safe because
an update sets values.

Answers: 200 sent; 400 (`invalid_request_error`, e.g. `email_invalid`) and 404 (`resource_missing`) rejected
with Stripe's message; 409 (a concurrent request with the same key) "retry"; 429, lock_timeout and 5xx are
the kit's to retry, then "retry"; a 401 raises `CredentialsRefused`, as a read does.
"""

from __future__ import annotations

import hashlib
from typing import Any
from urllib.parse import quote, urlencode

import httpx

from connectors.kit import SourceClient
from connectors.kit.writes import WriteIn, WriteOutcome, one_at_a_time, plain, send, vendor_text

FIELDS = ("email", "name", "phone", "description")
ADDRESS = ("line1", "line2", "city", "state", "postal_code", "country")
MAX_KEY = 255  # Stripe's limit on an Idempotency-Key
CONCURRENCY = 4
OBJECT = "customers"


def form(changes: dict[str, Any]) -> tuple[dict[str, str], str | None]:
    """The form fields of an update, sorted by name (so the body, and its hash, do not depend on dict order)."""
    fields: dict[str, str] = {}
    for path, value in changes.items():
        if path in FIELDS:
            name = path
        elif path.startswith("metadata.") and len(path) > len("metadata."):
            key = path[len("metadata."):]
            if "[" in key or "]" in key:
                return {}, f"Stripe metadata keys cannot contain square brackets: {key!r}"
            name = f"metadata[{key}]"
        elif path.startswith("address.") and path[len("address."):] in ADDRESS:
            name = f"address[{path[len('address.'):]}]"
        else:
            return {}, (f"Stripe write-back takes {', '.join(FIELDS)}, metadata.<key> and address.<field>, "
                        f"not {path!r}")
        if isinstance(value, dict | list | tuple):
            return {}, f"{path}: Stripe takes text here, not {type(value).__name__}"
        fields[name] = "" if value is None else plain(value)
    if not fields:
        return {}, "no changes to write"
    return dict(sorted(fields.items())), None


def idempotency_key(writeback_id: str, fields: dict[str, str]) -> str:
    digest = hashlib.sha256(urlencode(list(fields.items())).encode()).hexdigest()[:32]
    wid = writeback_id if len(writeback_id) <= 128 else hashlib.sha256(writeback_id.encode()).hexdigest()
    return f"inlet-{wid}-{digest}"[:MAX_KEY - 8]  # room for a "-r<n>" suffix


class StripeWriter:
    def __init__(self, client: SourceClient) -> None:
        self.client = client

    async def write(self, items: list[WriteIn]) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome | None] = [None] * len(items)
        bodies: dict[int, dict[str, str]] = {}
        for i, item in enumerate(items):
            if item.object_type != "customer":
                outcomes[i] = WriteOutcome.rejected(item, None, "Stripe write-back supports customers only, not "
                                                    f"{item.object_type!r}")
                continue
            if not item.external_id.startswith("cus_"):
                outcomes[i] = WriteOutcome.rejected(item, None, f"not a Stripe customer id: {item.external_id!r}")
                continue
            fields, problem = form(item.changes)
            if problem is not None:
                outcomes[i] = WriteOutcome.rejected(item, None, problem)
            else:
                bodies[i] = fields

        async def update(i: int) -> WriteOutcome:
            return await self._update(items[i], bodies[i])

        await one_at_a_time(items, outcomes, update, concurrency=CONCURRENCY)
        return outcomes  # type: ignore[return-value]

    async def _update(self, item: WriteIn, fields: dict[str, str]) -> WriteOutcome:
        key = idempotency_key(item.writeback_id, fields)
        rekeyed = 0

        def after(response: httpx.Response, headers: dict[str, str]) -> None:
            nonlocal rekeyed
            if response.status_code >= 500 and response.headers.get("idempotent-replayed", "").lower() == "true":
                rekeyed += 1  # Stripe replays a saved 500 under this key: only a new key runs the update again
                headers["Idempotency-Key"] = f"{key}-r{rekeyed}"

        answer = await send(self.client, "POST", f"/v1/customers/{quote(item.external_id, safe='')}",
                            object_name=OBJECT, data=fields, headers={"Idempotency-Key": key}, on_response=after)
        if answer.ok:
            return WriteOutcome.sent(item, answer.status)
        error = answer.body.get("error") if isinstance(answer.body, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        text = vendor_text(self.client, str(message or answer.body or f"HTTP {answer.status}"))
        if answer.status == 409:  # another request with this key is running: ask again later
            return WriteOutcome.retry(item, 409, text)
        return WriteOutcome.rejected(item, answer.status, text)
