"""A local emulator of Shopify's GraphQL Admin API (customers, orders, products, deletion events, the mutations a
two-way sync needs), faithful to shopify.dev and VENDOR_FACTS sections 2 and 4, for inlet's Shopify connector, its
end-to-end tests and benchmarks.

    sb = ShopifySandbox(seed=1, customers=1000)
    app = create_app(sb)                 # an ASGI app: POST /admin/api/{version}/graphql.json
    sb.mutate(kind="customers", updates=50, deletes=5, creates=10)
    sb.fail_writes(1, code="INTERNAL_SERVER_ERROR")  # the next mutation fails in band (sandbox.faults)

The cost bucket, the 60-day order window, search syntax, cursors and error shapes behave as Shopify's; see the
module docstrings (`cost`, `throttle`, `search`, `errors`) for the rules and where they come from.
"""

from sandbox.shopify.app import API_VERSIONS, create_app
from sandbox.shopify.data import SHOPIFY_TOKEN, SHOPIFY_TOKEN_RECENT_ORDERS, ShopifySandbox

__all__ = ["API_VERSIONS", "SHOPIFY_TOKEN", "SHOPIFY_TOKEN_RECENT_ORDERS", "ShopifySandbox", "create_app"]
