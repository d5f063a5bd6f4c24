"""HubSpot's webhooks (VENDOR_FACTS 1.6): JSON arrays of events, batched, signed v3 (and v1).

Events: `<type>.creation`, `<type>.deletion` (archiving), `<type>.restore`, and one `<type>.propertyChange` per
changed property with its new value (for contact, company and deal). The changes of one write call (a `mutate`,
a batch endpoint, a single write: one stamp in the sandbox) go out together, up to 100 events per request.
`attemptNumber` starts at 0 and grows with every retry; the rest of each event stays as it was.

Headers per attempt: `X-HubSpot-Request-Timestamp` (epoch ms, now) and `X-HubSpot-Signature-v3` =
base64(HMAC-SHA256(secret, "POST" + url + body + timestamp)), plus the v1 pair HubSpot still sends for CRM object
subscriptions: `X-HubSpot-Signature-Version: v1` and `X-HubSpot-Signature` = hex(SHA-256(secret + body)).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from sandbox.webhooks.sender import Delivery, Message

if TYPE_CHECKING:
    from sandbox.hubspot.data import Change, HubSpotSandbox
    from sandbox.webhooks.sender import WebhookSender

BATCH = 100  # "batch size can vary, but will be under 100 notifications"
APP_ID = 2_718_281  # the sandbox app's id (any number: HubSpot's are 6-7 digits)
USER_AGENT = "HubSpot Connect 2.0 (http://dev.hubspot.com/)"  # [recalled, UNCONFIRMED]
# Properties that cannot be propertyChange subscription targets (VENDOR_FACTS 1.6).
UNSUBSCRIBABLE = frozenset({"lastmodifieddate", "hs_lastmodifieddate", "num_unique_conversion_events"})
TYPES = ("contact", "company", "deal")
EVENTS = ("creation", "deletion", "restore", "propertyChange")
# One subscription per event type (real apps have one per property for propertyChange; the id is all that shows).
SUBSCRIPTIONS = {f"{t}.{e}": 1000 + 10 * i + j for i, t in enumerate(TYPES) for j, e in enumerate(EVENTS)}
_ACTIONS = {"created": "creation", "archived": "deletion", "restored": "restore"}
# HubSpot signs the URI with these escapes decoded (the docs tell receivers to decode them before checking).
_DECODE = {"%3A": ":", "%2F": "/", "%3F": "?", "%40": "@", "%21": "!", "%24": "$", "%27": "'", "%28": "(",
           "%29": ")", "%2A": "*", "%2C": ",", "%3B": ";"}


def signature_v3(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    for escape, char in _DECODE.items():
        uri = uri.replace(escape, char).replace(escape.lower(), char)
    source = method.encode() + uri.encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret.encode(), source, hashlib.sha256).digest()).decode()


def signature_v1(secret: str, body: bytes) -> str:
    return hashlib.sha256(secret.encode() + body).hexdigest()


class HubSpotFormat:
    def __init__(self, sender: WebhookSender, *, app_id: int = APP_ID, portal_id: int | None = None) -> None:
        from sandbox.hubspot.errors import PORTAL_ID

        self.sender = sender
        self.app_id = app_id
        self.portal_id = PORTAL_ID if portal_id is None else portal_id
        self.event_ids = itertools.count(3_800_000_001)  # "not guaranteed to be unique"; here they are

    def attach(self, sandbox: HubSpotSandbox) -> Callable[[], None]:
        from sandbox.hubspot.data import HubSpotSandbox
        from sandbox.hubspot.objects import KINDS

        def on_change(change: Change) -> None:
            singular = KINDS[change.kind].singular
            for event in self.events(singular, change):
                self.sender.submit(Message(str(event["eventId"]), event["subscriptionType"], event,
                                           group=(id(sandbox), change.group)))

        return self.sender.listener(sandbox, HubSpotSandbox, on_change)

    def events(self, singular: str, change: Change) -> list[dict[str, Any]]:
        new = change.new
        if change.action in _ACTIONS:
            ms = new.created_ms if change.action == "created" else new.updated_ms
            return [self._event(new.id, None, f"{singular}.{_ACTIONS[change.action]}", change.source, ms)]
        # Creation sends only `creation`: the sandbox does not follow it with propertyChange events for the
        # initial values [a choice: whether HubSpot does depends on the subscriptions and is not documented].
        old_props, new_props = change.old.props if change.old else {}, new.props
        names = sorted(n for n in old_props.keys() | new_props.keys()
                       if n not in UNSUBSCRIBABLE and old_props.get(n) != new_props.get(n))
        # A cleared property reports an empty string, HubSpot's "no value" [UNCONFIRMED].
        return [self._event(new.id, (name, new_props.get(name) or ""), f"{singular}.propertyChange", change.source,
                            new.updated_ms) for name in names]

    def _event(self, object_id: int, prop: tuple[str, str] | None, subscription: str, source: str,
               ms: int) -> dict[str, Any]:
        event: dict[str, Any] = {"objectId": object_id}
        if prop is not None:
            event["propertyName"], event["propertyValue"] = prop
        event.update({"changeSource": source, "eventId": next(self.event_ids),
                      "subscriptionId": SUBSCRIPTIONS[subscription], "portalId": self.portal_id, "appId": self.app_id,
                      "occurredAt": ms, "subscriptionType": subscription})
        return event  # attemptNumber is added per attempt

    def batches(self, messages: list[Message]) -> list[Message]:
        out = []
        for start in range(0, len(messages), BATCH):
            chunk = messages[start:start + BATCH]
            events = [m.payload for m in chunk]
            out.append(Message(",".join(m.id for m in chunk), ",".join(dict.fromkeys(m.topic for m in chunk)),
                               events))
        return out

    def prepare(self, delivery: Delivery, message: Message) -> None:
        pass

    def request(self, delivery: Delivery, attempt: int) -> tuple[bytes, dict[str, str]]:
        body = orjson.dumps([{**event, "attemptNumber": attempt} for event in delivery.payload])
        timestamp = str(int(self.sender.now() * 1000))
        secret = self.sender.secret
        return body, {"Content-Type": "application/json", "User-Agent": USER_AGENT,
                      "X-HubSpot-Signature-v3": signature_v3(secret, "POST", delivery.url, body, timestamp),
                      "X-HubSpot-Request-Timestamp": timestamp, "X-HubSpot-Signature-Version": "v1",
                      "X-HubSpot-Signature": signature_v1(secret, body)}
