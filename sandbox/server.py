"""`inlet sandbox`: the vendor emulators on one loopback port, for trying inlet without any account.

Each vendor's paths are its own (Stripe `/v1/...`, HubSpot `/crm/...`, Shopify `/admin/api/...`), so one server
answers for all of them and a config points every cloud-app source at the same `base_url`.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp, Receive, Scope, Send

from sandbox.hubspot import HUBSPOT_TOKEN, HubSpotSandbox
from sandbox.hubspot import create_app as hubspot_app
from sandbox.people import share_people
from sandbox.shopify import SHOPIFY_TOKEN, ShopifySandbox
from sandbox.shopify import create_app as shopify_app
from sandbox.stripe import StripeSandbox, create_app

STRIPE_KEY = "sk_test_sandbox"
SHOP = "inlet-sandbox.myshopify.com"
VENDORS = ("stripe", "hubspot", "shopify")

SNIPPET = """\
# Sources pointing at the sandbox on {base_url}; paste them under `sources:` in your inlet.yaml.
  - id: billing
    name: Stripe (sandbox)
    channel: billing
    bridge: stripe
    api_key: {stripe_key}
    base_url: {base_url}
    mapping: default
  - id: crm
    name: HubSpot (sandbox)
    channel: crm
    bridge: hubspot
    token: {hubspot_token}
    base_url: {base_url}
    mapping: default
  - id: shop
    name: Shopify (sandbox)
    channel: web
    bridge: shopify
    shop: {shop}
    access_token: {shopify_token}
    base_url: {base_url}
    mapping: default
"""


class ByPath:
    """ASGI: each request to the emulator whose path prefix it carries; anything else to Stripe's, which answers
    with its own "Unrecognized request URL"."""

    def __init__(self, apps: dict[str, ASGIApp]) -> None:
        self.apps = apps

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "/") if scope["type"] == "http" else "/v1/"
        for prefix, app in self.apps.items():
            if path.startswith(prefix):
                return await app(scope, receive, send)
        return await self.apps["/v1/"](scope, receive, send)


class Sandbox:
    """The emulators' state (so a caller can mutate it between syncs) and the one ASGI app serving them.

    `customers` seeds Stripe customers, HubSpot contacts and Shopify customers alike (each vendor derives its
    other objects from it) unless `contacts` or `shop_customers` say otherwise. `rate_limit`: True for every
    vendor's documented limits, False for none, a number for that many Stripe requests per second (HubSpot and
    Shopify then keep their documented limits); `*_app_options` override that per vendor. `vendors` picks the
    emulators to build (Stripe always answers). `overlap`: the share of Stripe's customers who are also a HubSpot
    contact and a Shopify customer with the same email and name."""

    def __init__(self, *, seed: int = 1, customers: int = 200, contacts: int | None = None,
                 shop_customers: int | None = None, rate_limit: bool | int = True, seed_events: bool = True,
                 now=time.time, vendors: tuple[str, ...] = VENDORS, hubspot: dict | None = None,
                 shopify: dict | None = None, hubspot_app_options: dict | None = None,
                 shopify_app_options: dict | None = None, overlap: float = 0.0, **stripe) -> None:
        limited = rate_limit is not False
        self.stripe = StripeSandbox(seed=seed, customers=customers, api_keys=(STRIPE_KEY,), seed_events=seed_events,
                                    now=now, **stripe)
        self.apps: dict[str, ASGIApp] = {"/v1/": create_app(self.stripe, rate_limit=rate_limit)}
        self.hubspot: HubSpotSandbox | None = None
        self.shopify: ShopifySandbox | None = None
        if "hubspot" in vendors:
            self.hubspot = HubSpotSandbox(seed=seed, contacts=customers if contacts is None else contacts, now=now,
                                          **(hubspot or {}))
            self.apps["/crm/"] = hubspot_app(self.hubspot, **({"rate_limit": limited} | (hubspot_app_options or {})))
        if "shopify" in vendors:
            count = customers if shop_customers is None else shop_customers
            self.shopify = ShopifySandbox(seed=seed, customers=count, now=now, shop=SHOP, **(shopify or {}))
            self.apps["/admin/"] = shopify_app(self.shopify, **({"throttle": limited} | (shopify_app_options or {})))
        # people in all three apps (same email and name): `inlet sandbox` makes a share of them by default
        self.shared: list[str] = share_people(self.stripe, self.hubspot, self.shopify, overlap) \
            if overlap and self.hubspot is not None and self.shopify is not None else []
        self.app: ASGIApp = ByPath(self.apps)

    def snippet(self, base_url: str) -> str:
        return SNIPPET.format(base_url=base_url, stripe_key=STRIPE_KEY, hubspot_token=HUBSPOT_TOKEN,
                              shop=SHOP, shopify_token=SHOPIFY_TOKEN)


def serve(host: str, port: int, *, seed: int, customers: int, rate_limit: bool | int, echo=print,
          shopify_plan: str = "standard", overlap: float = 0.0) -> None:
    """Seed, print the config snippet, and serve until SIGINT/SIGTERM."""
    import uvicorn

    from sandbox.shopify.throttle import PLANS

    started = time.monotonic()
    echo(f"inlet sandbox: generating Stripe, HubSpot and Shopify accounts with {customers:,} customers each "
         f"(seed {seed}) ...")
    throttle = {"throttle": PLANS[shopify_plan]} if rate_limit is not False else {}
    sandbox = Sandbox(seed=seed, customers=customers, rate_limit=rate_limit, shopify_app_options=throttle,
                      overlap=overlap)
    if sandbox.shared:
        echo(f"inlet sandbox: {len(sandbox.shared):,} people are customers of all three, with the same email "
             f"(e.g. {sandbox.shared[0]})")
    base_url = f"http://{host}:{port}"
    echo(f"inlet sandbox: ready in {time.monotonic() - started:.1f}s; serving on {base_url} (Ctrl-C stops it)")
    echo(sandbox.snippet(base_url))
    config = uvicorn.Config(sandbox.app, host=host, port=port, log_level="warning", access_log=False,
                            lifespan="off")
    uvicorn.Server(config).run()
