"""Write-back: what the outbox hands a connector (`WriteIn`), what it gets back (`WriteOutcome`), and `send`,
the one request loop writes use.

`await connector.write(items)` returns one outcome per item, in order, and does not raise for a vendor's
answer about one item:
- "sent": the vendor took the change;
- "retry": a passing failure (429, 5xx, timeout, network) still failing after the kit's bounded retries, or
  an item not tried because an earlier request of the same call failed that way;
- "rejected": the vendor refused this change (validation, not found, missing scope) or inlet cannot express
  it (an unsupported object type or path); sending it again would fail the same way.

Like a read, a write raises the kit's errors for what concerns the whole source: `CredentialsRefused` on a
401 (or a 403 that is not a missing scope). The outbox leaves the items of such a call pending; every write
here sets values, so sending them again later is harmless.

`send` is `SourceClient`'s request (limiter, retry policy, redaction) except that the vendor's own answer to
a refused write comes back as an `Answer` rather than an error, because a write needs the body of a 400, 404
or 207 to tell which item failed and why. Every write here is safe to repeat (values are set, not added;
Stripe's carry an Idempotency-Key), so 5xx and network errors are retried like a read's.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from connectors.kit.auth import redact
from connectors.kit.client import SourceClient, _decode
from connectors.kit.errors import DailyLimitReached, RequestRejected, TransientError

__all__ = ["NOT_SENT", "PASSING", "REJECTED", "RETRY", "SENT", "Answer", "WriteIn", "WriteOutcome", "one_at_a_time",
           "plain", "send", "vendor_text"]

SENT, RETRY, REJECTED = "sent", "retry", "rejected"
MAX_ERROR = 1000  # characters of a vendor's message kept in an outcome
NOT_SENT = "not sent after an earlier request failed: "
# Failures that pass: the item is to be sent again later. A daily quota is one too (it returns tomorrow).
PASSING: tuple[type[Exception], ...] = (TransientError, DailyLimitReached)


@dataclass(slots=True)
class WriteIn:
    writeback_id: str  # stable across retries: use it for idempotency where the vendor has it
    object_type: str  # singular, as records.object_type: contact, company, customer
    external_id: str  # the vendor id as stored in records.external_id (Shopify: gid://shopify/Customer/N)
    changes: dict[str, Any]  # remote dotted path -> value: "properties.lifecyclestage", "metadata.plan", ...


@dataclass(slots=True)
class WriteOutcome:
    writeback_id: str
    status: str  # "sent" | "retry" | "rejected"
    http_status: int | None
    error: str | None  # the vendor's own message, secrets redacted

    @classmethod
    def sent(cls, item: WriteIn, http_status: int | None) -> WriteOutcome:
        return cls(item.writeback_id, SENT, http_status, None)

    @classmethod
    def retry(cls, item: WriteIn, http_status: int | None, error: str) -> WriteOutcome:
        return cls(item.writeback_id, RETRY, http_status, _clip(error))

    @classmethod
    def rejected(cls, item: WriteIn, http_status: int | None, error: str) -> WriteOutcome:
        return cls(item.writeback_id, REJECTED, http_status, _clip(error))


@dataclass(slots=True)
class Answer:
    """A vendor's answer to one write: a success (2xx) or a refusal of the request itself (4xx other than
    credentials, or a 5xx the vendor said not to retry). `body` is the decoded JSON (None if there is none)."""

    status: int
    body: Any
    headers: httpx.Headers

    @property
    def ok(self) -> bool:
        return self.status < 400


async def send(client: SourceClient, method: str, path: str, *, object_name: str, json_body: Any = None,
               data: Mapping[str, Any] | None = None, headers: dict[str, str] | None = None,
               on_response: Callable[[httpx.Response, dict[str, str]], None] | None = None) -> Answer:
    """One write through `client`: its limiter before every attempt, its retry policy around them. Returns the
    answer for a 2xx or a refusal; raises `TransientError` once retries are spent, `CredentialsRefused` and
    `DailyLimitReached` as a read would. `on_response(response, headers)` may change the headers of the next
    attempt (Stripe: a new key after a replayed 5xx)."""
    sent_headers = dict(headers or {})

    async def attempt() -> Answer:
        response = await client.exchange(method, path, object_name, data=data, json_body=json_body,
                                         headers=dict(sent_headers))
        if on_response is not None:
            on_response(response, sent_headers)
        try:
            body = client.check(response, method, path, object_name)
        except RequestRejected:
            return Answer(response.status_code, _body(response), response.headers)
        return Answer(response.status_code, body, response.headers)

    return await client.retry_policy.call(attempt)


async def one_at_a_time(items: Sequence[WriteIn], outcomes: list[WriteOutcome | None],
                        call: Callable[[int], Awaitable[WriteOutcome]], *, concurrency: int = 4) -> None:
    """Fill `outcomes[i]` with `await call(i)` for every item whose outcome is still None: one record's items
    one after another in their order, different records up to `concurrency` at once (the client's limiter
    paces them all). The first passing failure (PASSING, retries spent) makes its item "retry" and stops the
    call: items not started yet become "retry" without a request, for the vendor is unlikely to do better a
    moment later. Other errors (credentials refused) propagate, and the calls still running are cancelled."""
    chains: dict[str, list[int]] = {}
    for i, item in enumerate(items):
        if outcomes[i] is None:
            chains.setdefault(item.external_id, []).append(i)
    gate = asyncio.Semaphore(concurrency)
    halted: list[Exception] = []

    def not_sent(i: int) -> WriteOutcome:
        error = halted[0]
        return WriteOutcome.retry(items[i], getattr(error, "status", None), NOT_SENT + _message(error))

    async def chain(indices: list[int]) -> None:
        for i in indices:
            async with gate:
                if halted:
                    outcomes[i] = not_sent(i)
                    continue
                try:
                    outcomes[i] = await call(i)
                except PASSING as exc:
                    halted.append(exc)
                    outcomes[i] = WriteOutcome.retry(items[i], exc.status, exc.message)

    try:
        async with asyncio.TaskGroup() as group:
            for indices in chains.values():
                group.create_task(chain(indices))
    except BaseExceptionGroup as errors:
        first = next((e for e in errors.exceptions if not isinstance(e, asyncio.CancelledError)), None)
        if first is None:
            raise
        raise first from None


def _message(error: Exception) -> str:
    return str(getattr(error, "message", error))


def vendor_text(client: SourceClient, text: str) -> str:
    """A vendor's message, safe to store: the source's secrets and anything token-shaped masked."""
    return _clip(redact(text, client._secrets))


def _body(response: httpx.Response) -> Any:
    try:
        return _decode(response.content) if response.content else None
    except (ValueError, UnicodeDecodeError):
        return response.text


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ERROR else text[:MAX_ERROR] + "…"


def plain(value: Any) -> str:
    """A value as the text vendors take: booleans lower-case, whole floats without `.0`, JSON for the rest."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    isoformat = getattr(value, "isoformat", None)  # datetime, date
    return isoformat() if callable(isoformat) else str(value)
