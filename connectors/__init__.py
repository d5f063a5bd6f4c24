"""Connectors for the cloud apps inlet pulls from (HubSpot, Shopify, Stripe) and their shared HTTP kit.

Empty until the pull-sync work lands; the package exists so the layout of DESIGN.md holds from day one.
"""
