"""The stored form of customers, orders, products and their parts.

An object is one dict holding its GraphQL fields under their schema names, already in wire form (GIDs, DateTime
strings, Decimal strings, enum names), so a response is mostly dict lookups. Keys starting with `_` are the
sandbox's own: `_type` (the GraphQL type, for `Node`), `_num` (the numeric id), times as epoch seconds (`_created`,
`_updated`, …) for sorting and search, and the nested lists behind connections (`_metafields`, `_lineItems`,
`_variants`). No schema field starts with `_`, so they never leak into a response.
"""

from __future__ import annotations

from typing import Any

from sandbox.shopify.formats import gid, iso, money, money_bag, money_v2

CURRENCY = "USD"

FIRST_NAMES = ("Ava", "Liam", "Noah", "Emma", "Olivia", "Mia", "Lucas", "Amelia", "Ethan", "Sofia", "Mateo",
               "Chloe", "Leo", "Zoe", "Hugo", "Nora", "Ivy", "Felix", "Maya", "Owen", "Aria", "Jonas", "Lina",
               "Theo", "Elena", "Kai", "Ines", "Omar", "Yuki", "Priya")
LAST_NAMES = ("Smith", "Tremblay", "Garcia", "Müller", "Martin", "Rossi", "Nguyen", "Kim", "Dubois", "Jensen",
              "Silva", "Kowalski", "O'Brien", "Haddad", "Larsen", "Novak", "Sato", "Patel", "Cohen", "Moreau",
              "Fischer", "Bianchi", "Roy", "Walker", "Lopez")
PLACES = (("Ottawa", "Ontario", "ON", "Canada", "CA", "K1P 1J1"),
          ("Montreal", "Quebec", "QC", "Canada", "CA", "H2X 1Y4"),
          ("Vancouver", "British Columbia", "BC", "Canada", "CA", "V6B 1A1"),
          ("New York", "New York", "NY", "United States", "US", "10001"),
          ("Austin", "Texas", "TX", "United States", "US", "73301"),
          ("Portland", "Oregon", "OR", "United States", "US", "97201"),
          ("London", "England", "ENG", "United Kingdom", "GB", "EC1A 1BB"),
          ("Berlin", "Berlin", "BE", "Germany", "DE", "10115"),
          ("Lyon", "Auvergne-Rhône-Alpes", "ARA", "France", "FR", "69001"),
          ("Sydney", "New South Wales", "NSW", "Australia", "AU", "2000"),
          ("Amsterdam", "North Holland", "NH", "Netherlands", "NL", "1011"),
          ("Dublin", "Dublin", "D", "Ireland", "IE", "D01 F5P2"))
STREETS = ("Main St", "Elgin St", "King St W", "Oak Ave", "Rue Sainte-Catherine", "Baker St", "Market St",
           "Friedrichstraße", "Harbour Rd", "Maple Dr")
CUSTOMER_TAGS = ("vip", "wholesale", "newsletter", "returning", "b2b", "influencer", "local", "loyalty-gold")
ORDER_TAGS = ("gift", "rush", "wholesale", "subscription", "pos", "priority", "flagged")
ADJECTIVES = ("Classic", "Organic", "Vintage", "Everyday", "Premium", "Recycled", "Alpine", "Coastal", "Urban",
              "Heritage", "Featherweight", "Merino")
NOUNS = ("Tee", "Hoodie", "Backpack", "Water Bottle", "Beanie", "Sneaker", "Jacket", "Mug", "Notebook", "Scarf",
         "Candle", "Tote Bag", "Cap", "Sock Pack")
VENDORS = ("Northwind", "Acme Outfitters", "Maple & Co", "Blue Heron", "Kestrel Goods")
PRODUCT_TYPES = ("Apparel", "Accessories", "Home", "Footwear", "Stationery")
PRODUCT_TAGS = ("new", "sale", "bestseller", "eco", "limited", "gift-idea")
SIZES = ("XS", "S", "M", "L", "XL", "XXL")
COLORS = ("Black", "White", "Navy", "Forest", "Sand", "Rust", "Sky", "Charcoal", "Olive", "Plum", "Coral",
          "Stone", "Mint", "Ochre", "Slate", "Berry", "Teal", "Ivory", "Cocoa", "Lilac")
METAFIELD_KEYS = (("custom", "loyalty_tier", "single_line_text_field", ("bronze", "silver", "gold")),
                  ("custom", "birthday", "date", ("1988-04-12", "1992-11-30", "1979-06-02")),
                  ("custom", "points", "number_integer", ("120", "4500", "80")),
                  ("crm", "external_id", "single_line_text_field", ("crm-1042", "crm-2231", "crm-3310")),
                  ("custom", "preferences", "json", ('{"sms":true}', '{"sms":false,"email":true}', "{}")))


def customer(num: int, created: int, updated: int, *, first: str | None, last: str | None, email: str | None,
             phone: str | None, marketing: str, tags: list[str], note: str | None, state: str, verified: bool,
             tax_exempt: bool, place: tuple | None, street: str | None, address_num: int | None) -> dict:
    obj: dict[str, Any] = {
        "_type": "Customer", "_num": num, "_created": created, "_updated": updated, "_metafields": [],
        "_orders": 0, "_spent": 0, "_marketing": marketing,
        "id": gid("Customer", num), "firstName": first, "lastName": last, "email": email, "phone": phone,
        "tags": tags, "note": note, "state": state, "verifiedEmail": verified, "taxExempt": tax_exempt,
        "createdAt": iso(created), "updatedAt": iso(updated),
    }
    if place is not None and address_num is not None:
        city, province, code, country, country_code, zip_code = place
        obj["defaultAddress"] = {
            "_type": "MailingAddress", "id": gid("MailingAddress", address_num) + "?model_name=CustomerAddress",
            "firstName": first, "lastName": last, "name": " ".join(p for p in (first, last) if p) or None,
            "company": None, "address1": street, "address2": None, "city": city, "province": province,
            "provinceCode": code, "country": country, "countryCodeV2": country_code, "zip": zip_code, "phone": phone}
    else:
        obj["defaultAddress"] = None
    refresh_customer(obj)
    return obj


def refresh_customer(obj: dict) -> None:
    """Recompute the fields derived from others (display name, email address object, order totals)."""
    first, last, email = obj["firstName"], obj["lastName"], obj["email"]
    obj["displayName"] = " ".join(p for p in (first, last) if p) or email or obj["phone"] or ""
    obj["defaultEmailAddress"] = None if email is None else {
        "emailAddress": email, "marketingState": obj["_marketing"]}
    obj["numberOfOrders"] = str(obj["_orders"])
    obj["amountSpent"] = money_v2(obj["_spent"], CURRENCY)
    address = obj.get("defaultAddress")
    if address is not None:
        address["firstName"], address["lastName"] = first, last
        address["name"] = " ".join(p for p in (first, last) if p) or None


def metafield(num: int, t: int, namespace: str, key: str, type_: str, value: str) -> dict:
    return {"_type": "Metafield", "_num": num, "id": gid("Metafield", num), "namespace": namespace, "key": key,
            "value": value, "type": type_, "createdAt": iso(t), "updatedAt": iso(t)}


def variant(num: int, t: int, title: str, sku: str, price_cents: int, quantity: int) -> dict:
    return {"_type": "ProductVariant", "_num": num, "_price": price_cents, "id": gid("ProductVariant", num),
            "title": title, "sku": sku, "price": money(price_cents), "inventoryQuantity": quantity,
            "createdAt": iso(t), "updatedAt": iso(t)}


def product(num: int, created: int, updated: int, *, title: str, handle: str, status: str, vendor: str,
            product_type: str, tags: list[str], published: int | None, variants: list[dict]) -> dict:
    obj = {"_type": "Product", "_num": num, "_created": created, "_updated": updated, "_published": published,
           "_variants": variants, "_metafields": [],
           "id": gid("Product", num), "title": title, "handle": handle, "status": status, "vendor": vendor,
           "productType": product_type, "tags": tags, "createdAt": iso(created), "updatedAt": iso(updated),
           "publishedAt": iso(published),
           "descriptionHtml": f"<p>{title} by {vendor}. Made to last, designed in Ottawa.</p>"}
    refresh_product(obj)
    return obj


def refresh_product(obj: dict) -> None:
    obj["totalInventory"] = sum(v["inventoryQuantity"] or 0 for v in obj["_variants"])


def line_item(num: int, title: str, variant_title: str, sku: str, vendor: str, quantity: int,
              unit_cents: int) -> dict:
    return {"_type": "LineItem", "_num": num, "_unit": unit_cents, "id": gid("LineItem", num), "title": title,
            "name": f"{title} - {variant_title}", "quantity": quantity, "sku": sku, "vendor": vendor,
            "originalUnitPriceSet": money_bag(unit_cents, CURRENCY)}


def order(num: int, number: int, created: int, updated: int, *, customer: dict | None, line_items: list[dict],
          financial: str, fulfillment: str, closed_at: int | None, cancelled_at: int | None,
          cancel_reason: str | None, test: bool, tags: list[str], note: str | None) -> dict:
    obj = {"_type": "Order", "_num": num, "_number": number, "_created": created, "_updated": updated,
           "_processed": created, "_closed": closed_at, "_cancelled": cancelled_at,
           "_customer": customer["_num"] if customer else None,
           "_customer_name": customer["displayName"].lower() if customer else None,
           "_destination": (customer["defaultAddress"] or {}).get("country") if customer else None,
           "_lineItems": line_items,
           "id": gid("Order", num), "name": f"#{number}", "email": customer["email"] if customer else None,
           "createdAt": iso(created), "updatedAt": iso(updated), "processedAt": iso(created),
           "displayFinancialStatus": financial, "displayFulfillmentStatus": fulfillment,
           "cancelReason": cancel_reason, "currencyCode": CURRENCY, "test": test, "tags": tags, "note": note}
    refresh_order(obj)
    return obj


def refresh_order(obj: dict) -> None:
    """Totals from the line items (13% tax) and the dates derived from the stored epoch seconds."""
    subtotal = sum(li["_unit"] * li["quantity"] for li in obj["_lineItems"])
    tax = round(subtotal * 0.13)
    obj["_total"] = subtotal + tax
    obj["_qty"] = sum(li["quantity"] for li in obj["_lineItems"])
    obj["subtotalPriceSet"] = money_bag(subtotal, CURRENCY)
    obj["totalTaxSet"] = money_bag(tax, CURRENCY)
    obj["totalPriceSet"] = money_bag(obj["_total"], CURRENCY)
    obj["closedAt"] = iso(obj["_closed"])
    obj["closed"] = obj["_closed"] is not None
    obj["cancelledAt"] = iso(obj["_cancelled"])


def counts_toward_spent(order_obj: dict) -> bool:
    """Orders that make up a customer's `amountSpent` (sandbox rule: not cancelled, not voided)."""
    return order_obj["_cancelled"] is None and order_obj["displayFinancialStatus"] not in ("VOIDED", "EXPIRED")


def public(obj: dict | None) -> Any:
    """An object as the schema exposes it: `_` keys dropped, connection lists included under their field names
    (`metafields`, `lineItems`, `variants`), an order's customer as `{"id": …}`."""
    if obj is None:
        return None
    out: dict[str, Any] = {}
    for key, value in obj.items():
        if key[0] != "_":
            out[key] = public(value) if isinstance(value, dict) else list(value) if isinstance(value, list) \
                else value
    for inner in ("_metafields", "_lineItems", "_variants"):
        if inner in obj:
            out[inner[1:]] = [public(item) for item in obj[inner]]
    if obj.get("_type") == "Order":
        out["customer"] = None if obj["_customer"] is None else {"id": gid("Customer", obj["_customer"])}
    return out

