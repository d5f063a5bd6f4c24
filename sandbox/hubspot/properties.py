"""Property definitions: HubSpot's default properties of contacts, companies and deals, plus generated custom
ones with realistic long names, as `GET /crm/v3/properties/{objectType}` lists them.

Types follow HubSpot's `type`/`fieldType` pairs: string/text|textarea|phonenumber, number/number,
datetime/date, date/date, enumeration/select|radio|checkbox, bool/booleancheckbox.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

CREATED_AT = "2019-08-06T02:43:01.000Z"  # when HubSpot's default properties were "created" in every portal
STRING, NUMBER, DATETIME, DATE, ENUM, BOOL = "string", "number", "datetime", "date", "enumeration", "bool"
_FIELD = {STRING: "text", NUMBER: "number", DATETIME: "date", DATE: "date", ENUM: "select", BOOL: "booleancheckbox"}
BOOL_OPTIONS = (("true", "Yes"), ("false", "No"))


@dataclass(frozen=True, slots=True)
class Prop:
    name: str
    label: str
    type: str
    group: str
    field_type: str = ""
    description: str = ""
    options: tuple[tuple[str, str], ...] = ()  # (value, label)
    read_only: bool = False  # modificationMetadata.readOnlyValue: writes are refused (READ_ONLY_VALUE)
    calculated: bool = False
    unique: bool = False
    hubspot: bool = True  # hubspotDefined
    epoch: bool = False  # a datetime HubSpot renders as an epoch-ms string rather than ISO
    external: bool = False  # externalOptions: the options live elsewhere (owners)

    def as_api(self, order: int) -> dict:
        options = self.options or (BOOL_OPTIONS if self.type == BOOL else ())
        body = {
            "updatedAt": CREATED_AT, "createdAt": CREATED_AT, "name": self.name, "label": self.label,
            "type": self.type, "fieldType": self.field_type or _FIELD[self.type], "description": self.description,
            "groupName": self.group,
            "options": [{"label": label, "value": value, "displayOrder": i, "hidden": False}
                        for i, (value, label) in enumerate(options)],
            "displayOrder": order if not self.hubspot else -1, "calculated": self.calculated,
            "externalOptions": self.external, "archived": False, "hasUniqueValue": self.unique, "hidden": False,
            "modificationMetadata": {"archivable": not self.hubspot, "readOnlyDefinition": self.hubspot,
                                     "readOnlyValue": self.read_only},
            "formField": not self.read_only,
        }
        if self.hubspot:
            body["hubspotDefined"] = True
        return body


def _opts(*values: str) -> tuple[tuple[str, str], ...]:
    return tuple((v, v.replace("_", " ").title()) for v in values)


LIFECYCLE = (("subscriber", "Subscriber"), ("lead", "Lead"), ("marketingqualifiedlead", "Marketing Qualified Lead"),
             ("salesqualifiedlead", "Sales Qualified Lead"), ("opportunity", "Opportunity"),
             ("customer", "Customer"), ("evangelist", "Evangelist"), ("other", "Other"))
LEAD_STATUS = _opts("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", "CONNECTED",
                    "BAD_TIMING")
SOURCES = _opts("ORGANIC_SEARCH", "PAID_SEARCH", "EMAIL_MARKETING", "SOCIAL_MEDIA", "REFERRALS", "OTHER_CAMPAIGNS",
                "DIRECT_TRAFFIC", "OFFLINE", "PAID_SOCIAL")
INDUSTRIES = _opts("COMPUTER_SOFTWARE", "INFORMATION_TECHNOLOGY_AND_SERVICES", "MARKETING_AND_ADVERTISING",
                   "FINANCIAL_SERVICES", "HOSPITAL_HEALTH_CARE", "RETAIL", "LOGISTICS_AND_SUPPLY_CHAIN",
                   "CONSTRUCTION", "EDUCATION_MANAGEMENT", "MANAGEMENT_CONSULTING")
COMPANY_TYPES = _opts("PROSPECT", "PARTNER", "RESELLER", "VENDOR", "OTHER")
# Deal stages of the default pipeline with their win probability (hs_deal_stage_probability).
STAGES = (("appointmentscheduled", "Appointment Scheduled", "0.2"), ("qualifiedtobuy", "Qualified To Buy", "0.4"),
          ("presentationscheduled", "Presentation Scheduled", "0.6"),
          ("decisionmakerboughtin", "Decision Maker Bought-In", "0.8"), ("contractsent", "Contract Sent", "0.9"),
          ("closedwon", "Closed Won", "1.0"), ("closedlost", "Closed Lost", "0.0"))


def _system(lastmod: str) -> list[Prop]:
    return [
        Prop("createdate", "Create Date", DATETIME, "", read_only=True),
        Prop(lastmod, "Last Modified Date", DATETIME, "", read_only=True),
        Prop("hs_object_id", "Record ID", NUMBER, "", read_only=True),
        Prop("hubspot_owner_id", "Owner", ENUM, "", external=True),
    ]


def _with_group(props: list[Prop], group: str) -> list[Prop]:
    return [Prop(p.name, p.label, p.type, p.group or group, p.field_type, p.description or f"The {p.label.lower()}.",
                 p.options, p.read_only, p.calculated, p.unique, p.hubspot, p.epoch, p.external) for p in props]


CONTACT_DEFAULTS = _with_group([
    *_system("lastmodifieddate"),
    Prop("email", "Email", STRING, ""), Prop("firstname", "First Name", STRING, ""),
    Prop("lastname", "Last Name", STRING, ""), Prop("phone", "Phone Number", STRING, "", "phonenumber"),
    Prop("mobilephone", "Mobile Phone Number", STRING, "", "phonenumber"), Prop("company", "Company Name", STRING, ""),
    Prop("jobtitle", "Job Title", STRING, ""), Prop("website", "Website URL", STRING, ""),
    Prop("address", "Street Address", STRING, ""), Prop("city", "City", STRING, ""),
    Prop("state", "State/Region", STRING, ""), Prop("zip", "Postal Code", STRING, ""),
    Prop("country", "Country/Region", STRING, ""),
    Prop("lifecyclestage", "Lifecycle Stage", ENUM, "", "radio", options=LIFECYCLE),
    Prop("hs_lead_status", "Lead Status", ENUM, "", "radio", options=LEAD_STATUS),
    Prop("hs_email_domain", "Email Domain", STRING, "", read_only=True, calculated=True),
    Prop("hs_analytics_source", "Original Source", ENUM, "analyticsinformation", options=SOURCES, read_only=True),
    Prop("hs_analytics_num_page_views", "Number of Pageviews", NUMBER, "analyticsinformation", read_only=True),
    Prop("notes_last_updated", "Last Activity Date", DATETIME, "", read_only=True),
    Prop("hs_email_optout", "Unsubscribed from all email", BOOL, "emailinformation", read_only=True),
    Prop("associatedcompanyid", "Primary Associated Company ID", NUMBER, ""),
], "contactinformation")

COMPANY_DEFAULTS = _with_group([
    *_system("hs_lastmodifieddate"),
    Prop("name", "Company name", STRING, ""), Prop("domain", "Company Domain Name", STRING, ""),
    Prop("website", "Website URL", STRING, ""), Prop("phone", "Phone Number", STRING, "", "phonenumber"),
    Prop("city", "City", STRING, ""), Prop("state", "State/Region", STRING, ""),
    Prop("country", "Country/Region", STRING, ""),
    Prop("industry", "Industry", ENUM, "", options=INDUSTRIES),
    Prop("numberofemployees", "Number of Employees", NUMBER, ""),
    Prop("annualrevenue", "Annual Revenue", NUMBER, ""),
    Prop("type", "Type", ENUM, "", options=COMPANY_TYPES),
    Prop("lifecyclestage", "Lifecycle Stage", ENUM, "", "radio", options=LIFECYCLE),
    Prop("description", "Description", STRING, "", "textarea"),
    Prop("founded_year", "Year Founded", STRING, ""),
    Prop("is_public", "Is Public", BOOL, ""),
    Prop("num_associated_contacts", "Number of Associated Contacts", NUMBER, "", read_only=True, calculated=True),
], "companyinformation")

DEAL_DEFAULTS = _with_group([
    *_system("hs_lastmodifieddate"),
    Prop("dealname", "Deal Name", STRING, ""), Prop("amount", "Amount", NUMBER, ""),
    Prop("closedate", "Close Date", DATETIME, ""),
    Prop("pipeline", "Pipeline", ENUM, "", options=(("default", "Sales Pipeline"),)),
    Prop("dealstage", "Deal Stage", ENUM, "", "radio", options=tuple((v, label) for v, label, _ in STAGES)),
    Prop("dealtype", "Deal Type", ENUM, "", "radio",
         options=(("newbusiness", "New Business"), ("existingbusiness", "Existing Business"))),
    Prop("hs_priority", "Priority", ENUM, "", options=(("low", "Low"), ("medium", "Medium"), ("high", "High"))),
    Prop("description", "Deal Description", STRING, "", "textarea"),
    Prop("hs_is_closed", "Is Deal Closed?", BOOL, "", read_only=True, calculated=True),
    Prop("hs_is_closed_won", "Is Closed Won", BOOL, "", read_only=True, calculated=True),
    Prop("hs_deal_stage_probability", "Deal probability", NUMBER, "", read_only=True, calculated=True),
    Prop("days_to_close", "Days to close", NUMBER, "", read_only=True, calculated=True),
], "dealinformation")

DEFAULTS = {"contacts": CONTACT_DEFAULTS, "companies": COMPANY_DEFAULTS, "deals": DEAL_DEFAULTS}

# Parts of generated property names. Names starting `hs_` are HubSpot-defined (read-only values, like the
# analytics and sales-tool properties of a real portal); the others are the portal's own custom properties.
_PREFIXES = ("hs_analytics", "hs_marketing", "hs_sales_email", "hs_latest", "hs_social", "crm_sync",
             "partner_portal", "product_usage", "billing_system", "support_portal", "webinar_platform",
             "event_registration", "customer_success", "data_enrichment", "lead_scoring", "account_health")
_MIDDLES = ("last_touch_converting", "first_touch_converting", "most_recent", "last_engagement", "first_conversion",
            "latest_sequence", "last_meeting_booked", "onboarding_checklist", "renewal_forecast", "trial_activation",
            "nps_survey_response", "feature_adoption", "email_campaign", "referral_program", "contract_negotiation")
_SUFFIXES = (("campaign", STRING, ""), ("timestamp", DATETIME, ""), ("epoch", DATETIME, "epoch"), ("date", DATE, ""),
             ("count", NUMBER, ""), ("score", NUMBER, ""), ("source", ENUM, ""), ("status", ENUM, ""),
             ("flag", BOOL, ""), ("notes", STRING, "textarea"), ("url", STRING, ""), ("amount", NUMBER, ""),
             ("owner_email", STRING, ""), ("external_id", STRING, ""))
_ENUM_VALUES = {"source": _opts("ORGANIC", "PAID", "REFERRAL", "PARTNER", "EVENT", "OUTBOUND"),
                "status": _opts("NOT_STARTED", "IN_PROGRESS", "COMPLETED", "BLOCKED", "CANCELLED")}
GROUPS = {"contacts": "contactinformation", "companies": "companyinformation", "deals": "dealinformation"}


def custom_properties(object_type: str, count: int) -> list[Prop]:
    """`count` generated properties, 30-50 characters long; deterministic, and `count=n` is a prefix of `n+1`."""
    rng = random.Random(f"hubspot-properties:{object_type}")
    taken = {p.name for p in DEFAULTS[object_type]}
    props: list[Prop] = []
    while len(props) < count:
        prefix, middle = rng.choice(_PREFIXES), rng.choice(_MIDDLES)
        suffix, kind, hint = rng.choice(_SUFFIXES)
        name = f"{prefix}_{middle}_{suffix}"
        if suffix.partition("_")[0] in f"{prefix}_{middle}" or len(name) < 30 or len(name) > 50 or name in taken:
            continue
        taken.add(name)
        label = name.replace("_", " ").removeprefix("hs ").capitalize()
        hubspot = name.startswith("hs_")
        group = "analyticsinformation" if prefix == "hs_analytics" else GROUPS[object_type]
        props.append(Prop(name, label, kind, group, "textarea" if hint == "textarea" else "",
                          f"{label} (synced from the {prefix.removeprefix('hs_').replace('_', ' ')} integration).",
                          _ENUM_VALUES.get(suffix, ()), read_only=hubspot, hubspot=hubspot, epoch=hint == "epoch"))
    return props
