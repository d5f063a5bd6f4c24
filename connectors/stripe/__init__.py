"""Stripe: customers, charges, invoices, subscriptions, products and prices; lists first, then events."""

from connectors.stripe.connector import BASE_URL, StripeConnector
from connectors.stripe.objects import OBJECTS

__all__ = ["BASE_URL", "OBJECTS", "StripeConnector"]
