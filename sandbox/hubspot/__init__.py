"""A local emulator of the HubSpot CRM v3 API (contacts, companies, deals, owners, properties, search, batch),
faithful to the behaviours in /work/shared/VENDOR_FACTS.md sections 1 and 4, for inlet's HubSpot connector, its
end-to-end tests and benchmarks.

    hs = HubSpotSandbox(seed=1, contacts=1000)
    app = create_app(hs)                 # an ASGI app; serve it with uvicorn or httpx.ASGITransport
    hs.mutate("contacts", updates=50, archives=5, creates=10)
    hs.fail_writes(2, 503)               # the next 2 write requests fail (sandbox.faults); hs.writes_received
"""

from sandbox.hubspot.app import create_app
from sandbox.hubspot.data import HUBSPOT_TOKEN, HubSpotSandbox

__all__ = ["HUBSPOT_TOKEN", "HubSpotSandbox", "create_app"]
