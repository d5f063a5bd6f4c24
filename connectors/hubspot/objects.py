"""What the connector reads from HubSpot: one entry per `objects:` name (VENDOR_FACTS 1.2, 1.3)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CrmObject:
    name: str  # plural, as in `objects:` and the API path: contacts
    object_type: str  # singular, as in records.object_type: contact
    modified: str  # the last-modified property the search API filters on

    @property
    def path(self) -> str:
        return f"/crm/v3/objects/{self.name}"


# Contacts name their last-modified property differently from every other object.
CRM_OBJECTS: dict[str, CrmObject] = {
    "contacts": CrmObject("contacts", "contact", "lastmodifieddate"),
    "companies": CrmObject("companies", "company", "hs_lastmodifieddate"),
    "deals": CrmObject("deals", "deal", "hs_lastmodifieddate"),
}
OWNERS = "owners"
