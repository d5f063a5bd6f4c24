"""Stripe's webhooks (VENDOR_FACTS 3.6): every event the account writes, POSTed as the Event JSON.

The body is the event exactly as `GET /v1/events/{id}` shows it (same id, same fields), rendered once when the
event is written: retries and redeliveries send the same bytes. `Stripe-Signature: t=<unix>,v1=<hex>` with
`v1 = HMAC-SHA256(secret, f"{t}.{body}")`, regenerated with a new `t` for every attempt, as Stripe does.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import TYPE_CHECKING

import orjson

from sandbox.webhooks.sender import Delivery, Message

if TYPE_CHECKING:
    from sandbox.stripe.data import Event, StripeSandbox
    from sandbox.webhooks.sender import WebhookSender

USER_AGENT = "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
CONTENT_TYPE = "application/json; charset=utf-8"


def signature(secret: str, t: int, body: bytes) -> str:
    """The `Stripe-Signature` header value for one attempt."""
    v1 = hmac.new(secret.encode(), str(t).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={v1}"


class StripeFormat:
    def __init__(self, sender: WebhookSender) -> None:
        self.sender = sender

    def attach(self, sandbox: StripeSandbox) -> Callable[[], None]:
        from sandbox.stripe.data import StripeSandbox

        def on_event(event: Event) -> None:
            # Stripe's webhook bodies are pretty-printed JSON with two-space indents [recalled, UNCONFIRMED]; the
            # content is the same as the sandbox's compact `/v1/events` rendering, and signatures cover raw bytes.
            body = orjson.dumps(event.as_dict(), option=orjson.OPT_INDENT_2)
            self.sender.submit(Message(event.id, event.type, body))

        return self.sender.listener(sandbox, StripeSandbox, on_event)

    def prepare(self, delivery: Delivery, message: Message) -> None:
        pass  # the event id is the delivery's id; nothing else is per delivery

    def request(self, delivery: Delivery, attempt: int) -> tuple[bytes, dict[str, str]]:
        body: bytes = delivery.payload
        t = int(self.sender.now())
        # Accept and Cache-Control as Stripe's deliveries carry them [recalled from delivery logs, UNCONFIRMED].
        return body, {"Content-Type": CONTENT_TYPE, "User-Agent": USER_AGENT, "Accept": "*/*; q=0.5, application/xml",
                      "Cache-Control": "no-cache", "Stripe-Signature": signature(self.sender.secret, t, body)}

    def batches(self, messages: list[Message]) -> list[Message]:
        return messages
