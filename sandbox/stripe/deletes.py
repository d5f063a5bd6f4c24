"""What Stripe lets you delete, and what it refuses (VENDOR_FACTS 3.7 and the API reference):

- a product "only if it has no prices associated with it" (archived prices count; Dashboard-deleted ones are gone);
- an invoice only while it is a one-off draft: "once an invoice has been finalized or if an invoice is for a
  subscription, it must be voided";
- a price never through the API (only `active=false`); the Dashboard can delete one that was never used, which
  `delete_price` simulates. Stripe also refuses to archive a product's default price [INFERRED: integrations
  clear `default_price` before archiving it].

The refusal messages are the sandbox's own words. Each function returns the `deleted` stub the API answers with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from sandbox.stripe.errors import StripeError

if TYPE_CHECKING:
    from sandbox.stripe.data import Request, StripeSandbox


def delete_product(sb: StripeSandbox, product_id: str, request: Request) -> dict:
    sb.live("products", product_id)
    if any(p["product"] == product_id for p in sb.collections["prices"].by_id.values()):
        raise StripeError(400, f"Product '{product_id}' has prices, so it cannot be deleted. Archive it "
                               "(active=false) instead.")
    return sb.remove("products", product_id, request=request)


def delete_invoice(sb: StripeSandbox, invoice_id: str, request: Request) -> dict:
    invoice = sb.live("invoices", invoice_id)
    if invoice["status"] != "draft":
        raise StripeError(400, f"Only draft invoices can be deleted, and invoice '{invoice_id}' is "
                               f"{invoice['status']}. Void a finalized invoice instead.")
    if invoice["subscription"] is not None:
        raise StripeError(400, f"Invoice '{invoice_id}' belongs to a subscription, so it cannot be deleted. "
                               "Void it instead.")
    return sb.remove("invoices", invoice_id, request=request)


def delete_price(sb: StripeSandbox, price_id: str, request: Request) -> dict:
    sb.live("prices", price_id)
    if price_id in prices_in_use(sb):
        raise StripeError(400, f"Price '{price_id}' is in use (a product's default price, or on a subscription "
                               "or invoice), so it cannot be deleted. Archive it instead.")
    return sb.remove("prices", price_id, request=request)


def archive_price(sb: StripeSandbox, price_id: str, request: Request) -> dict:
    price = sb.live("prices", price_id)
    if sb.collections["products"].by_id[price["product"]]["default_price"] == price_id:
        raise StripeError(400, f"Price '{price_id}' is the default price of its product, so it cannot be "
                               "archived. Set another default price first.")
    return sb.update("prices", price, {"active": False}, request=request)


def prices_in_use(sb: StripeSandbox) -> set[str]:
    """Ids of prices that are a product's default price or appear on a subscription or invoice (a scan)."""
    used = {p["default_price"] for p in sb.collections["products"].by_id.values() if p["default_price"]}
    for sub in sb.collections["subscriptions"].by_id.values():
        used.update(item["price"]["id"] for item in sub["items"]["data"])
    for invoice in sb.collections["invoices"].by_id.values():
        used.update(line["price"]["id"] for line in invoice["lines"]["data"] if line["price"])
    return used
