"""How Shopify writes values on the wire: global ids, DateTime, Decimal and Money strings.

- Ids are GIDs, `gid://shopify/Customer/7461932581071`; the number is what Shopify's REST API calls the id.
- `DateTime` is ISO 8601 in UTC with second precision: `2024-01-01T00:00:00Z`.
- `MoneyV2.amount` is a `Decimal` scalar, written the way Ruby's BigDecimal prints: `"199.65"`, `"199.5"`,
  `"200.0"`. `ProductVariant.price` is the `Money` scalar, written with two decimals: `"19.90"`. (Shopify's docs
  only say "a decimal string"; these forms follow captured responses, so clients must parse, never compare text.)
"""

from __future__ import annotations

import re
import time
from functools import lru_cache

GID_RE = re.compile(r"^gid://shopify/([A-Za-z]+)/(\d+)(?:\?.*)?$")


def gid(type_name: str, num: int) -> str:
    return f"gid://shopify/{type_name}/{num}"


def parse_gid(value: object) -> tuple[str, int] | None:
    """(type, number) of a well-formed GID, else None."""
    if not isinstance(value, str):
        return None
    match = GID_RE.match(value)
    return (match.group(1), int(match.group(2))) if match else None


@lru_cache(maxsize=8192)
def _day(day: int) -> str:
    return time.strftime("%Y-%m-%dT", time.gmtime(day * 86_400))


def iso(t: int | None) -> str | None:
    if t is None:
        return None
    day, rest = divmod(int(t), 86_400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{_day(day)}{hours:02d}:{minutes:02d}:{seconds:02d}Z"


def decimal(cents: int) -> str:
    """Cents as Shopify's `Decimal`: trailing zeros dropped, at least one decimal ("200.0", "199.5")."""
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(cents), 100)
    frac = f"{rest:02d}".rstrip("0") or "0"
    return f"{sign}{units}.{frac}"


def money(cents: int) -> str:
    """Cents as Shopify's `Money` scalar: two decimals ("19.90")."""
    sign = "-" if cents < 0 else ""
    units, rest = divmod(abs(cents), 100)
    return f"{sign}{units}.{rest:02d}"


@lru_cache(maxsize=16384)  # shared dicts: stored objects never change them in place
def money_v2(cents: int, currency: str) -> dict:
    return {"amount": decimal(cents), "currencyCode": currency}


@lru_cache(maxsize=16384)
def money_bag(cents: int, currency: str) -> dict:
    """A `MoneyBag`: the shop currency and the presentment currency (the same here)."""
    return {"shopMoney": money_v2(cents, currency), "presentmentMoney": money_v2(cents, currency)}
