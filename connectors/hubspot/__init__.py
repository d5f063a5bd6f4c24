"""The HubSpot CRM v3 connector: contacts, companies, deals (every property) and owners."""

from connectors.hubspot.connector import HubSpotConnector

__all__ = ["HubSpotConnector"]
