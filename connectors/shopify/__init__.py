"""The Shopify connector (GraphQL Admin API): customers, orders and products."""

from connectors.shopify.connector import ShopifyConnector

__all__ = ["ShopifyConnector"]
