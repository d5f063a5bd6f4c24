"""Realistic property values: people, companies, deals and the generated custom properties."""

from __future__ import annotations

import random
from collections.abc import Callable

from sandbox.hubspot.properties import BOOL, DATE, DATETIME, ENUM, LEAD_STATUS, LIFECYCLE, NUMBER, SOURCES, STAGES, Prop
from sandbox.hubspot.records import day, iso

DAY_MS = 86_400_000
FIRST = ("Ada", "Ben", "Chloe", "Dev", "Emma", "Farah", "Gus", "Hana", "Ivan", "Jade", "Kofi", "Lena", "Mateo",
         "Nora", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Vera", "Wen", "Yusuf", "Zoe", "Aiko",
         "Bruno", "Carmen", "Dmitri", "Elif", "Felix", "Grace", "Hugo", "Ines", "Jonas", "Kira", "Luca", "Maya")
LAST = ("Abara", "Becker", "Costa", "Dubois", "Eriksen", "Fischer", "Garcia", "Hughes", "Ito", "Jensen", "Kim",
        "Lopez", "Moreau", "Novak", "Okafor", "Patel", "Rossi", "Silva", "Tanaka", "Varga", "Weber", "Young",
        "Andersen", "Baptiste", "Chen", "Dimitrov", "Evans", "Fontaine", "Gallo", "Haddad", "Ivanova", "Kowalski")
MAIL_DOMAINS = ("gmail.com", "outlook.com", "yahoo.com", "proton.me", "icloud.com")
WORD_A = ("North", "Blue", "Bright", "Iron", "Silver", "Green", "Summit", "Harbor", "Atlas", "Nova", "Cedar",
          "Pioneer", "Vertex", "Lumen", "Orbit", "Crescent", "Granite", "Maple", "Falcon", "Quartz")
WORD_B = ("wind", "stone", "field", "bridge", "peak", "wave", "works", "point", "forge", "line", "gate", "path")
WORD_C = ("Analytics", "Logistics", "Labs", "Systems", "Health", "Foods", "Robotics", "Energy", "Media", "Capital",
          "Software", "Consulting", "Retail", "Studios")
JOBS = ("Marketing Manager", "Head of Sales", "CTO", "Operations Lead", "Account Executive", "Data Analyst",
        "VP Engineering", "Procurement Officer", "Founder", "Customer Success Manager", "Product Manager")
PLACES = (("Berlin", "Berlin", "Germany", "10115"), ("Lyon", "Auvergne-Rhône-Alpes", "France", "69001"),
          ("Austin", "TX", "United States", "73301"), ("Leeds", "England", "United Kingdom", "LS1 1UR"),
          ("Osaka", "Osaka", "Japan", "530-0001"), ("Porto", "Porto", "Portugal", "4000-001"),
          ("Toronto", "ON", "Canada", "M5H 2N2"), ("Denver", "CO", "United States", "80202"))
STREETS = ("Main St", "Harbour Road", "Rue de la Paix", "Lindenstraße", "Queen St W", "Elm Avenue")
PRODUCTS = ("Platform licence", "Onboarding package", "Enterprise plan", "Analytics add-on", "Renewal",
            "Support upgrade", "Seat expansion")
CAMPAIGNS = ("Spring webinar 2024", "Q3 product launch", "Partner newsletter", "Retargeting EMEA",
             "Black Friday 2023", "Customer summit", "Trial nurture", "LinkedIn lead gen")
_LIFECYCLE = tuple(v for v, _ in LIFECYCLE)
_LEAD = tuple(v for v, _ in LEAD_STATUS)
_SOURCES = tuple(v for v, _ in SOURCES)
_STAGES = tuple(v for v, _, _ in STAGES)


def pick(rng: random.Random, items: tuple | list):
    """`rng.choice`, at a fraction of its cost (seeding makes hundreds of thousands of picks)."""
    return items[int(rng.random() * len(items))]


def between(rng: random.Random, low: int, high: int) -> int:
    """`rng.randrange(low, high)`, likewise cheaper."""
    return low + int(rng.random() * (high - low))


def phone(rng: random.Random) -> str:
    return f"+1 {between(rng, 200, 999)}-{between(rng, 200, 999)}-{between(rng, 1000, 9999)}"


def company_name(rng: random.Random) -> str:
    return f"{pick(rng, WORD_A)}{pick(rng, WORD_B)} {pick(rng, WORD_C)}"


def domain_of(name: str) -> str:
    return name.lower().replace(" ", "") + ".example.com"


def unique(base: str, taken: set[str] | dict[str, int]) -> str:
    """`base` (an email or domain), numbered before the `@`/first dot if already taken."""
    if base not in taken:
        return base
    head, sep, tail = base.partition("@") if "@" in base else base.partition(".")
    n = 2
    while f"{head}{n}{sep}{tail}" in taken:
        n += 1
    return f"{head}{n}{sep}{tail}"


def contact(rng: random.Random, owners: list[str], companies: list[str], emails: set[str] | dict) -> dict:
    first, last = pick(rng, FIRST), pick(rng, LAST)
    work = rng.random() < 0.7 and companies
    company = pick(rng, companies) if work else None
    domain = domain_of(company) if company else pick(rng, MAIL_DOMAINS)
    email = unique(f"{first}.{last}@{domain}".lower(), emails)
    props = {"email": email, "firstname": first, "lastname": last, "lifecyclestage": pick(rng, _LIFECYCLE),
             "hs_email_domain": domain, "hs_analytics_source": pick(rng, _SOURCES),
             "hs_analytics_num_page_views": str(between(rng, 0, 120)), "hs_email_optout": "false"}
    if company:
        props["company"] = company
        props["website"] = "https://www." + domain
    r = rng.random()
    if r < 0.7:
        props["phone"] = phone(rng)
        city, state, country, zipcode = pick(rng, PLACES)
        props.update(city=city, state=state, country=country, zip=zipcode,
                     address=f"{between(rng, 1, 300)} {pick(rng, STREETS)}")
    if r < 0.6:
        props["jobtitle"] = pick(rng, JOBS)
    if r < 0.5:
        props["hs_lead_status"] = pick(rng, _LEAD)
    if r > 0.85:
        props["mobilephone"] = phone(rng)
    if owners and r < 0.8:
        props["hubspot_owner_id"] = pick(rng, owners)
    return props


def company(rng: random.Random, owners: list[str], domains: set[str]) -> dict:
    name = company_name(rng)
    domain = unique(domain_of(name), domains)
    domains.add(domain)
    city, state, country, _ = pick(rng, PLACES)
    props = {"name": name, "domain": domain, "website": "https://www." + domain, "city": city, "state": state,
             "country": country, "industry": pick(rng, ("COMPUTER_SOFTWARE", "RETAIL", "FINANCIAL_SERVICES",
                                                         "HOSPITAL_HEALTH_CARE", "LOGISTICS_AND_SUPPLY_CHAIN")),
             "numberofemployees": str(pick(rng, (5, 12, 40, 85, 250, 1200, 5000))),
             "lifecyclestage": pick(rng, ("lead", "opportunity", "customer", "customer")),
             "num_associated_contacts": str(between(rng, 0, 40)), "is_public": pick(rng, ("true", "false"))}
    if rng.random() < 0.6:
        props["annualrevenue"] = str(between(rng, 100, 50_000) * 1000)
        props["type"] = pick(rng, ("PROSPECT", "PARTNER", "RESELLER", "VENDOR"))
        props["phone"] = phone(rng)
    if rng.random() < 0.4:
        props["founded_year"] = str(between(rng, 1950, 2023))
        props["description"] = f"{name} builds {pick(rng, WORD_C).lower()} products for mid-sized teams."
    if owners and rng.random() < 0.85:
        props["hubspot_owner_id"] = pick(rng, owners)
    return props


def deal(rng: random.Random, owners: list[str], companies: list[str], created_ms: int, now_ms: int) -> dict:
    who = pick(rng, companies) if companies else company_name(rng)
    stage = pick(rng, _STAGES)
    close = created_ms + between(rng, 5, 120) * DAY_MS if stage.startswith("closed") or rng.random() < 0.7 else None
    props = {"dealname": f"{who} - {pick(rng, PRODUCTS)}", "amount": str(between(rng, 5, 400) * 250),
             "pipeline": "default", "dealstage": stage,
             "dealtype": pick(rng, ("newbusiness", "newbusiness", "existingbusiness"))}
    if close is not None:
        props["closedate"] = iso(min(close, now_ms + 180 * DAY_MS))
    if rng.random() < 0.5:
        props["hs_priority"] = pick(rng, ("low", "medium", "high"))
    if owners and rng.random() < 0.9:
        props["hubspot_owner_id"] = pick(rng, owners)
    return props


def value_maker(prop: Prop, now_ms: int) -> Callable[[random.Random], str]:
    """A generator of realistic values for a generated custom property."""
    if prop.type == NUMBER:
        return lambda rng: str(between(rng, 0, 1000))
    if prop.type == BOOL:
        return lambda rng: "true" if rng.random() < 0.5 else "false"
    if prop.type == ENUM:
        values = tuple(v for v, _ in prop.options)
        return lambda rng: pick(rng, values)
    if prop.type == DATE:
        return lambda rng: day(now_ms - between(rng, 0, 800) * DAY_MS)
    if prop.type == DATETIME:
        if prop.epoch:
            return lambda rng: str(now_ms - between(rng, 0, 800 * DAY_MS))
        return lambda rng: iso(now_ms - between(rng, 0, 800 * DAY_MS))
    if prop.name.endswith("_url"):
        return lambda rng: f"https://app.example.com/r/{between(rng, 10**6, 10**7)}"
    if prop.name.endswith("_email"):
        return lambda rng: f"{pick(rng, FIRST).lower()}@sandbox-sales.example.com"
    if prop.name.endswith("_id"):
        return lambda rng: f"ext-{between(rng, 10**8, 10**9)}"
    return lambda rng: pick(rng, CAMPAIGNS)


def changes(object_type: str, rng: random.Random, owners: list[str]) -> dict[str, str]:
    """One realistic edit of a record (what a user, a workflow or an integration changes)."""
    r = rng.random()
    if object_type == "contacts":
        if r < 0.3:
            return {"lifecyclestage": pick(rng, _LIFECYCLE), "hs_lead_status": pick(rng, _LEAD)}
        if r < 0.55:
            return {"phone": phone(rng)}
        if r < 0.75:
            return {"jobtitle": pick(rng, JOBS)}
        if r < 0.9 and owners:
            return {"hubspot_owner_id": pick(rng, owners)}
        city, state, country, zipcode = pick(rng, PLACES)
        return {"city": city, "state": state, "country": country, "zip": zipcode}
    if object_type == "companies":
        if r < 0.4:
            return {"numberofemployees": str(pick(rng, (12, 40, 85, 250, 1200)))}
        if r < 0.7:
            return {"annualrevenue": str(between(rng, 100, 50_000) * 1000)}
        return {"lifecyclestage": pick(rng, ("opportunity", "customer")), "phone": phone(rng)}
    if r < 0.5:
        return {"dealstage": pick(rng, _STAGES)}
    if r < 0.8:
        return {"amount": str(between(rng, 5, 400) * 250)}
    return {"hs_priority": pick(rng, ("low", "medium", "high"))}
