"""Local emulators of the HubSpot, Shopify and Stripe APIs, for `inlet demo`, end-to-end tests and benchmarks.

Empty until the first connector lands; the package exists so the layout of DESIGN.md holds from day one.
"""
