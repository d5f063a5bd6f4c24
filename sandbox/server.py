"""`inlet sandbox`: the vendor emulators on one loopback port, for trying inlet without any account.

Each vendor's paths are its own (Stripe `/v1/...`; HubSpot `/crm/...` and Shopify `/admin/api/...` join later),
so one server answers for all of them and a config points every cloud-app source at the same `base_url`.
"""

from __future__ import annotations

import time

from starlette.types import ASGIApp

from sandbox.stripe import StripeSandbox, create_app

STRIPE_KEY = "sk_test_sandbox"

SNIPPET = """\
# Sources pointing at the sandbox on {base_url}; paste them under `sources:` in your inlet.yaml.
  - id: billing
    name: Stripe (sandbox)
    channel: billing
    bridge: stripe
    api_key: {stripe_key}
    base_url: {base_url}
"""


class Sandbox:
    """The emulators' state (so a caller can mutate it between syncs) and the one ASGI app serving them."""

    def __init__(self, *, seed: int = 1, customers: int = 200, rate_limit: bool | int = True,
                 seed_events: bool = True, now=time.time, **stripe) -> None:
        self.stripe = StripeSandbox(seed=seed, customers=customers, api_keys=(STRIPE_KEY,), seed_events=seed_events,
                                    now=now, **stripe)
        self.app: ASGIApp = create_app(self.stripe, rate_limit=rate_limit)

    def snippet(self, base_url: str) -> str:
        return SNIPPET.format(base_url=base_url, stripe_key=STRIPE_KEY)


def serve(host: str, port: int, *, seed: int, customers: int, rate_limit: bool | int, echo=print,
          ready=None) -> None:
    """Seed, print the config snippet, and serve until SIGINT/SIGTERM."""
    import uvicorn

    started = time.monotonic()
    echo(f"inlet sandbox: generating a Stripe account with {customers:,} customers (seed {seed}) ...")
    sandbox = Sandbox(seed=seed, customers=customers, rate_limit=rate_limit)
    base_url = f"http://{host}:{port}"
    echo(f"inlet sandbox: ready in {time.monotonic() - started:.1f}s; serving on {base_url} (Ctrl-C stops it)")
    echo(sandbox.snippet(base_url))
    config = uvicorn.Config(sandbox.app, host=host, port=port, log_level="warning", access_log=False,
                            lifespan="off")
    uvicorn.Server(config).run()
