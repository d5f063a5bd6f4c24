"""The delivery machinery shared by the three vendors: endpoints, a queue with retries, one background thread.

A sandbox tells its listeners of each change on the thread that made it; the vendor's format turns the change into
a `Message` at once (the sandbox may change the object again right after) and the sender queues one `Delivery`
per registered endpoint. The worker thread POSTs due deliveries one at a time with a sync httpx client; a non-2xx
answer, a timeout or a connection error schedules a retry after the next backoff step, with the same payload and
ids, until the steps run out. Each attempt asks the format for its body and headers, so signatures and timestamps
are fresh per attempt as the vendors make them (and HubSpot's `attemptNumber` grows).

HubSpot sends events in batches: a message may carry a `group`, and messages of one group (one write call in the
sandbox) are held until the group is complete (a newer group arrived, nothing came for `GROUP_WINDOW` seconds, or
`flush` asked), then the format cuts them into requests.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import httpx

log = logging.getLogger("inlet.sandbox.webhooks")

TIMEOUT = 5.0  # all three vendors give up on an answer after about 5 s (VENDOR_FACTS 1.6, 2.6)
BACKOFF = (0.2, 0.5, 1.0)  # sandbox-fast stand-ins for the vendors' hours-long schedules: 3 retries
GROUP_WINDOW = 0.1  # seconds without news after which a HubSpot batch is complete (flush does not wait for it)


@dataclass(frozen=True, slots=True)
class Message:
    """What a format makes of a change: one Stripe event, one Shopify topic delivery, or one HubSpot event (then
    `group` says which write call it came from)."""

    id: str
    topic: str
    payload: Any
    group: Hashable | None = None


@dataclass(eq=False)
class Delivery:
    """One message to one endpoint. `headers`, `body` and `status` are those of the latest attempt (`status` None
    while nothing answered: pending, timed out or unreachable); `done` once it succeeded or retries ran out."""

    url: str
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    status: int | None = None
    attempts: int = 0
    id: str = ""  # what stays the same across retries: Stripe event id, Shopify webhook id, HubSpot event ids
    topic: str = ""  # Stripe event type, Shopify topic, HubSpot subscription types
    payload: Any = field(default=None, repr=False)
    first_attempt: int = 0  # the vendor's attempt count at this delivery's first attempt (redeliveries go on)
    statuses: list[int | None] = field(default_factory=list)  # every attempt's answer
    error: str | None = None  # the latest attempt's transport error, if any
    done: bool = False
    state: dict[str, Any] = field(default_factory=dict, repr=False)  # the format's per-delivery values

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class Format(Protocol):
    """What a vendor module provides (see `stripe`, `shopify`, `hubspot` in this package)."""

    def attach(self, sandbox: Any) -> Callable[[], None]:
        """Subscribe to the sandbox's changes; returns the function that unsubscribes."""

    def prepare(self, delivery: Delivery, message: Message) -> None:
        """Set a new delivery's ids and state."""

    def request(self, delivery: Delivery, attempt: int) -> tuple[bytes, dict[str, str]]:
        """Body and headers of attempt `attempt` (0 for the first) of a delivery."""

    def batches(self, messages: list[Message]) -> list[Message]:
        """The messages of one complete group, as the messages to deliver (HubSpot: arrays of up to 100)."""


def _format(vendor: str, sender: WebhookSender, options: dict[str, Any]) -> Format:
    if vendor == "stripe":
        from sandbox.webhooks.stripe import StripeFormat

        return StripeFormat(sender, **options)
    if vendor == "shopify":
        from sandbox.webhooks.shopify import ShopifyFormat

        return ShopifyFormat(sender, **options)
    if vendor == "hubspot":
        from sandbox.webhooks.hubspot import HubSpotFormat

        return HubSpotFormat(sender, **options)
    raise ValueError(f"unknown vendor {vendor!r}; expected stripe, shopify or hubspot")


class WebhookSender:
    """Signed webhook deliveries from one vendor's sandboxes to registered endpoints.

    `secret`: the signing secret (Stripe's endpoint `whsec_…`, Shopify's and HubSpot's app client secret). `now`:
    the clock for timestamps in payloads and signatures (pass the sandbox's). `timeout`: seconds per attempt.
    `backoff`: the waits before each retry; their number is the number of retries. Vendor options: Shopify
    `shop_domain`, `api_version`; HubSpot `app_id`, `portal_id`."""

    def __init__(self, vendor: str, secret: str, now: Callable[[], float] = time.time, *, timeout: float = TIMEOUT,
                 backoff: Sequence[float] = BACKOFF, **options: Any) -> None:
        self.vendor = vendor
        self.secret = secret
        self.now = now
        self.backoff = tuple(backoff)
        self.endpoints: list[str] = []
        self.deliveries: list[Delivery] = []
        self.format = _format(vendor, self, options)
        self._cond = threading.Condition()
        self._due: list[tuple[float, int, Delivery]] = []  # heap of (when, order, delivery)
        self._order = itertools.count()
        self._outstanding = 0  # deliveries not done
        self._groups: dict[Hashable, list[Message]] = {}  # open HubSpot groups, oldest first
        self._last_news = 0.0  # monotonic time the newest group last grew
        self._flushing = 0
        self._closed = False
        self._detach: list[Callable[[], None]] = []
        # Redirects are not followed: Stripe counts a 3xx as a failure, and so does the sandbox for everyone.
        self._client = httpx.Client(timeout=httpx.Timeout(timeout), follow_redirects=False)
        self._thread = threading.Thread(target=self._run, name=f"webhooks-{vendor}", daemon=True)
        self._thread.start()

    # -- setup -----------------------------------------------------------------------------------------------

    def register(self, url: str) -> None:
        """Deliver every later change to `url` too."""
        with self._cond:
            if url not in self.endpoints:
                self.endpoints.append(url)

    def attach(self, sandbox: Any) -> None:
        """Subscribe to a sandbox's changes (a `StripeSandbox`, `ShopifySandbox` or `HubSpotSandbox` to match the
        vendor). A sender may serve several sandboxes."""
        self._detach.append(self.format.attach(sandbox))

    def listener(self, sandbox: Any, kind: type, build: Callable[[Any], None]) -> Callable[[], None]:
        """Subscribe `build` (a format's change handler) to a sandbox of class `kind`; returns the unsubscriber.
        A failure while building a payload is logged, never raised into the sandbox's write."""
        if not isinstance(sandbox, kind):
            raise TypeError(f"a {self.vendor} sender attaches to a {kind.__name__}, not {type(sandbox).__name__}")

        def on_change(change: Any) -> None:
            try:
                build(change)
            except Exception:
                log.exception("%s webhook payload failed for %r", self.vendor, change)

        sandbox.listeners.append(on_change)
        return lambda: sandbox.listeners.remove(on_change)

    def close(self) -> None:
        """Unsubscribe and stop the thread; deliveries not yet done stay undone (`flush` first to wait for them)."""
        for detach in self._detach:
            detach()
        self._detach.clear()
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._thread is not threading.current_thread():
            self._thread.join(10)
        self._client.close()

    def __enter__(self) -> WebhookSender:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- queueing --------------------------------------------------------------------------------------------

    def submit(self, message: Message) -> None:
        """Queue a message (called by the formats from the sandbox's thread)."""
        with self._cond:
            if message.group is None:
                self._dispatch(message)
            else:
                self._groups.setdefault(message.group, []).append(message)
                self._last_news = time.monotonic()
            self._cond.notify_all()

    def redeliver(self, delivery: Delivery) -> Delivery:
        """Send a delivery again as a new one with the same ids and payload, as the vendors' manual resend does;
        its first attempt sends the same body the original last sent."""
        again = Delivery(delivery.url, id=delivery.id, topic=delivery.topic, payload=delivery.payload,
                         first_attempt=delivery.first_attempt + max(delivery.attempts - 1, 0),
                         state=dict(delivery.state))
        with self._cond:
            self._queue(again)
            self._cond.notify_all()
        return again

    def flush(self, timeout: float = 10) -> bool:
        """Wait until every queued delivery is done (succeeded or out of retries); False if `timeout` ran out."""
        with self._cond:
            self._flushing += 1
            self._cond.notify_all()
            try:
                return self._cond.wait_for(lambda: not self._outstanding and not self._groups, timeout)
            finally:
                self._flushing -= 1

    def _dispatch(self, message: Message) -> None:
        for url in self.endpoints:
            delivery = Delivery(url, id=message.id, topic=message.topic, payload=message.payload)
            self.format.prepare(delivery, message)
            self._queue(delivery)

    def _queue(self, delivery: Delivery) -> None:
        self.deliveries.append(delivery)
        self._outstanding += 1
        heapq.heappush(self._due, (time.monotonic(), next(self._order), delivery))

    def _close_groups(self) -> float | None:
        """Dispatch the complete groups; seconds until the open one counts as complete (None if there is none)."""
        if not self._groups:
            return None
        keys = list(self._groups)
        quiet = time.monotonic() - self._last_news
        complete = keys if self._flushing or self._closed or quiet >= GROUP_WINDOW else keys[:-1]
        for key in complete:
            for message in self.format.batches(self._groups.pop(key)):
                self._dispatch(message)
        if complete:
            self._cond.notify_all()
        return GROUP_WINDOW - quiet if self._groups else None

    # -- the worker ------------------------------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._closed:
                        return
                    wait = self._close_groups()
                    now = time.monotonic()
                    if self._due and self._due[0][0] <= now:
                        delivery = heapq.heappop(self._due)[2]
                        break
                    if self._due:
                        wait = min(wait if wait is not None else float("inf"), self._due[0][0] - now)
                    self._cond.wait(wait)
            self._attempt(delivery)

    def _attempt(self, delivery: Delivery) -> None:
        status: int | None = None
        error: str | None = None
        body, headers = b"", {}
        try:
            body, headers = self.format.request(delivery, delivery.first_attempt + delivery.attempts)
            status = self._client.post(delivery.url, content=body, headers=headers).status_code
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        except Exception as exc:  # a bug in a format must not stop the thread
            log.exception("webhook delivery to %s failed", delivery.url)
            error = f"{type(exc).__name__}: {exc}"
        with self._cond:
            delivery.attempts += 1
            delivery.body, delivery.headers, delivery.status, delivery.error = body, headers, status, error
            delivery.statuses.append(status)
            retries = delivery.attempts - 1
            if delivery.ok or retries >= len(self.backoff):
                delivery.done = True
                self._outstanding -= 1
                self._cond.notify_all()
            else:
                due = time.monotonic() + self.backoff[retries]
                heapq.heappush(self._due, (due, next(self._order), delivery))
