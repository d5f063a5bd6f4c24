"""Local emulators of the vendors' APIs, faithful to their public docs, for `inlet demo`, end-to-end tests and
benchmarks: `sandbox.stripe` so far; HubSpot and Shopify join it on the same port later (their paths do not
collide)."""
