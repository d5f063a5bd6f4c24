"""A local emulator of the Stripe API (customers, charges, invoices, subscriptions, products, prices, events),
faithful to the behaviours in /work/shared/VENDOR_FACTS.md sections 3 and 4, for inlet's Stripe connector, its
end-to-end tests and benchmarks.

    sandbox = StripeSandbox(seed=1, customers=1000)
    app = create_app(sandbox)            # an ASGI app; serve it with uvicorn or httpx.ASGITransport
    sandbox.mutate(updates=50, deletes=5, creates=10)
    sandbox.fail_writes(1, 500)          # the next POST/DELETE fails, saved under its key (sandbox.faults)
"""

from sandbox.stripe.app import create_app
from sandbox.stripe.data import StripeSandbox

__all__ = ["StripeSandbox", "create_app"]
