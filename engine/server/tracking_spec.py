"""The Segment spec for the tracking API: one message (track, identify, page, screen, group, alias) checked
and turned into the event inlet stores.

What goes where:
- `event_type`: a track call's event name as sent (`Order Completed`); the call's type for the others.
- `properties`: the message's `properties` (track, page, screen) or `traits` (identify, group); `{}` for alias.
- `context`: the request's details as the collect webhooks keep them (ip, user_agent, referer, headers without
  Authorization and Cookie) plus `message`: the whole message except that payload and `writeKey` (type,
  userId, anonymousId, messageId, timestamp, sentAt, the SDK's own context, integrations, event, name,
  category, groupId, previousId and anything else it carried).
- `session_id`: `anonymousId`; `userId` and an alias's `previousId` go to the writer, which ties them to profiles.
- `occurred_at`: `timestamp` (else `originalTimestamp`) corrected for the client's clock skew
  (`receivedAt - sentAt`) when `sentAt` is known; without a timestamp, the time the request arrived.
- `messageId` is the idempotency key: the same one from the same source is stored once.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from connectors.kit.ids import new_id
from engine.jsonio import dumps
from engine.server.refusals import Refusal
from engine.store import EventIn

TYPES = ("track", "identify", "page", "screen", "group", "alias")
MAX_MESSAGE = 32 * 1024  # bytes of one message, as Segment's API and SDKs count them
MAX_ID = 255  # characters of userId, anonymousId, previousId, groupId, messageId
_PAYLOAD = {"track": "properties", "page": "properties", "screen": "properties", "identify": "traits",
            "group": "traits", "alias": None}
# JSON Schema of what to_event checks (engine/server/openapi.py puts it in the OpenAPI document)
_ID = {"type": ["string", "number"], "minLength": 1, "maxLength": MAX_ID,
       "description": f"a non-empty string of at most {MAX_ID} characters, or a number (taken as its digits)"}
_OBJECT = {"type": ["object", "null"]}
_TIME = {"type": ["string", "null"], "format": "date-time",
         "description": "when it happened (`timestamp`, else `originalTimestamp`); with `sentAt`, corrected by the "
                        "client's clock skew, which must leave a date between the years 1 and 9999 (UTC)"}
_COMMON = {
    "writeKey": {"type": "string", "minLength": 1,
                 "description": "the source's write key, when the Authorization header does not carry it"},
    "userId": _ID, "anonymousId": {**_ID, "description": "the session id"}, "messageId": {
        **_ID, "description": "the idempotency key: the same one from the same source is stored once"},
    "timestamp": _TIME, "originalTimestamp": _TIME, "sentAt": {
        **_TIME, "description": "when the client sent it: with `timestamp`, shows the client's clock skew"},
    "context": _OBJECT, "integrations": _OBJECT,
}
_NAME = {"type": "string", "pattern": "[^\\s\\x1c-\\x1f\\x85]",
         "description": "the event's name: not empty, not only white space"}
_OWN = {"track": {"event": _NAME, "properties": _OBJECT}, "page": {"properties": _OBJECT},
        "screen": {"properties": _OBJECT}, "identify": {"traits": _OBJECT},
        "group": {"groupId": _ID, "traits": _OBJECT}, "alias": {"previousId": _ID}}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_LOWEST, _HIGHEST = -62135596800 * 10**6, 253402300799 * 10**6  # 0001-01-01 and 9999-12-31T23:59:59 UTC


def to_event(message: dict, kind: str, source_id: str, received_us: int, request_context: dict,
             batch: dict | None = None, *, check: Callable[[str, dict], dict | None] | None = None) -> EventIn:
    """The event for one message of type `kind`; `batch` is the batch body around it (its `sentAt`, and the
    `context` and `integrations` that apply to every message of the batch). Refusal(400) when it is invalid.
    `check(event_type, payload)`: the source's event schemas, which may refuse it (Refusal) or give more keys
    of its context (the violations, in warn mode)."""
    message = {k: v for k, v in message.items() if k != "writeKey"}
    message["type"] = kind
    if batch:
        for shared in ("context", "integrations"):
            if isinstance(batch.get(shared), dict):
                own = message.get(shared)
                message[shared] = {**batch[shared], **own} if isinstance(own, dict) else batch[shared]
        if "sentAt" not in message and batch.get("sentAt") is not None:
            message["sentAt"] = batch["sentAt"]
    for name in ("context", "integrations"):
        if message.get(name) is not None and not isinstance(message[name], dict):
            raise Refusal(400, f"invalid_{name}", f"`{name}` must be an object")

    user_id, anonymous_id = _id(message, "userId"), _id(message, "anonymousId")
    previous_id = None
    if kind == "alias":
        previous_id = _id(message, "previousId")
        if user_id is None or previous_id is None:
            missing = "userId" if user_id is None else "previousId"
            raise Refusal(400, f"missing_{'user_id' if user_id is None else 'previous_id'}",
                          f"an alias needs `{missing}` (it joins previousId to userId)")
    elif user_id is None and anonymous_id is None:
        raise Refusal(400, "missing_id", "every message needs `userId` or `anonymousId`")
    if kind == "group" and _id(message, "groupId") is None:
        raise Refusal(400, "missing_group_id", "a group call needs `groupId`")
    event_type = kind
    if kind == "track":
        event_type = message.get("event")
        if not isinstance(event_type, str) or not event_type.strip():
            raise Refusal(400, "missing_event", "a track call needs `event`, the event's name (a non-empty string)")
    message_id = _id(message, "messageId")

    payload_key = _PAYLOAD[kind]
    payload = message.pop(payload_key, None) if payload_key else {}
    if payload is None:
        payload = {}
    if not isinstance(payload, dict):
        raise Refusal(400, f"invalid_{payload_key}", f"`{payload_key}` must be an object")
    extra = check(event_type, payload) if check is not None else None

    return EventIn(
        event_id=new_id(),
        source_id=source_id,
        event_type=event_type,
        occurred_us=occurred_us(message, received_us),
        received_us=received_us,
        session_id=anonymous_id,
        properties=dumps(payload),
        context=dumps({**request_context, "message": message, **(extra or {})}),
        idempotency_key=message_id,
        user_id=user_id,
        previous_id=previous_id,
    )


def message_schema(kind: str) -> dict:
    """The JSON Schema of one `kind` message as `to_event` takes it (its size aside: MAX_MESSAGE bytes)."""
    schema = {"type": "object", "properties": {**_COMMON, **_OWN[kind]}, "additionalProperties": True}
    if kind != "alias":
        schema["anyOf"] = [{"required": ["userId"]}, {"required": ["anonymousId"]}]
    required = {"track": ["event"], "group": ["groupId"], "alias": ["userId", "previousId"]}.get(kind)
    if required:
        schema["required"] = required
    return schema


def batch_schema(message: dict[str, dict]) -> dict:
    """The JSON Schema of a batch body, given the schema (or a reference to it) of each kind of `message`.
    Each message of the batch is checked on its own: one that breaks its schema is refused, not the batch."""
    items = [{"allOf": [message[kind]], "properties": {"type": {"const": kind}}, "required": ["type"]}
             for kind in TYPES]
    return {"type": "object", "required": ["batch"], "additionalProperties": True, "properties": {
        "batch": {"type": "array", "items": {"anyOf": items},
                  "description": "the messages; each invalid one is refused on its own and listed in the answer"},
        "writeKey": _COMMON["writeKey"], "sentAt": _COMMON["sentAt"],
        "context": {**_OBJECT, "description": "merged into every message's own `context`"},
        "integrations": {**_OBJECT, "description": "merged into every message's own `integrations`"}}}


def occurred_us(message: dict, received_us: int) -> int:
    """`timestamp` (else `originalTimestamp`) + (receivedAt - sentAt) when sentAt is known; else receivedAt."""
    field = "timestamp" if message.get("timestamp") is not None else "originalTimestamp"
    at, sent = _time(message, field), _time(message, "sentAt")
    if at is None:
        return received_us
    if sent is not None:
        at += received_us - sent
    if not _LOWEST <= at <= _HIGHEST:
        raise Refusal(400, "invalid_timestamp", f"`{field}` corrected by the clock skew that `sentAt` shows is "
                      "not a date between the years 1 and 9999")
    return at


def _time(message: dict, field: str) -> int | None:
    value = message.get(field)
    if value is None:
        return None
    try:
        if not isinstance(value, str):
            raise ValueError
        at = datetime.fromisoformat(value)
    except ValueError:
        raise Refusal(400, "invalid_timestamp",
                      f"`{field}` is not an ISO 8601 date-time like 2026-04-01T12:00:00.000Z") from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    return (at - _EPOCH) // _US


def _id(message: dict, field: str) -> str | None:
    """An id as a string (numbers are taken as Segment takes them); None when absent or empty."""
    value = message.get(field)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise Refusal(400, "invalid_id", f"`{field}` must be a string or a number")
    value = str(value)
    if len(value) > MAX_ID:
        raise Refusal(400, "invalid_id", f"`{field}` must be at most {MAX_ID} characters")
    return value
