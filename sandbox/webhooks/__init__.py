"""Signed webhooks from the sandboxes, sent the way Stripe, Shopify and HubSpot send theirs.

    sender = WebhookSender("stripe", secret="whsec_test", now=sandbox.now)   # or "shopify", "hubspot"
    sender.register("http://127.0.0.1:8686/webhooks/billing")               # any number of endpoints
    sender.attach(sandbox)             # every later change of the sandbox (API writes and helpers) is delivered
    sandbox.mutate(...)
    sender.flush(timeout=10)           # wait until every delivery succeeded or ran out of retries
    sender.deliveries                  # [Delivery(url, headers, body, status, attempts, id, topic, ...)]
    sender.redeliver(delivery)         # the same delivery again: same ids, same body
    sender.close()

Each sandbox tells its `listeners` of every change; the vendor modules here build the payloads and signatures
(`stripe`, `shopify`, `hubspot`), and `sender` queues, retries and POSTs them from one background thread.
"""

from sandbox.webhooks.sender import BACKOFF, TIMEOUT, Delivery, Message, WebhookSender

__all__ = ["BACKOFF", "TIMEOUT", "Delivery", "Message", "WebhookSender"]
