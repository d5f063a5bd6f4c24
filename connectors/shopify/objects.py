"""What the connector asks Shopify for: per object, the GraphQL selection, the page size that keeps a page's
calculated cost under Shopify's 1,000-point ceiling, and the nested connections to complete."""

from __future__ import annotations

from dataclasses import dataclass

MONEY = "{ shopMoney { amount currencyCode } }"


@dataclass(frozen=True, slots=True)
class Nested:
    """A connection inside each node (an order's line items) read `first` at a time with the page; a node with
    more is completed by `follow_up` (one node, `after` its endCursor)."""

    field: str
    first: int
    selection: str
    root: str  # the single-node root field of the follow-up: order, product

    def in_page(self) -> str:
        return (f"{self.field}(first: {self.first}) {{ pageInfo {{ hasNextPage endCursor }} "
                f"nodes {{ {self.selection} }} }}")

    def follow_up(self) -> str:
        return (f"query($id: ID!, $after: String) {{ {self.root}(id: $id) {{ {self.field}(first: 100, after: $after) "
                f"{{ pageInfo {{ hasNextPage endCursor }} nodes {{ {self.selection} }} }} }} }}")


@dataclass(frozen=True, slots=True)
class ShopifyObject:
    name: str  # plural: the root connection and `objects:` name
    object_type: str
    fields: str
    page_size: int
    nested: tuple[Nested, ...] = ()
    deletions: str | None = None  # DeletionEventSubjectType whose deletion events mark records deleted
    all_records_scope: str | None = None  # without this access scope, only the recent window is visible
    window_days: int = 0

    def query(self) -> str:
        selection = " ".join([self.fields, *(n.in_page() for n in self.nested)])
        return (f"query($first: Int!, $after: String, $query: String) {{ {self.name}(first: $first, after: $after, "
                f"sortKey: UPDATED_AT, query: $query) {{ pageInfo {{ hasNextPage endCursor }} "
                f"nodes {{ {selection} }} }} }}")


CUSTOMER = """id firstName lastName displayName email phone note state verifiedEmail taxExempt tags numberOfOrders
createdAt updatedAt amountSpent { amount currencyCode } defaultEmailAddress { emailAddress marketingState }
defaultAddress { address1 city province country zip countryCodeV2 }"""

ORDER = f"""id name email createdAt updatedAt processedAt closedAt cancelledAt cancelReason closed
displayFinancialStatus displayFulfillmentStatus currencyCode test tags note customer {{ id }}
totalPriceSet {MONEY} subtotalPriceSet {MONEY} totalTaxSet {MONEY}"""
LINE_ITEM = f"id title quantity sku originalUnitPriceSet {MONEY}"

PRODUCT = """id title handle status vendor productType tags createdAt updatedAt publishedAt descriptionHtml
totalInventory"""
VARIANT = "id title sku price inventoryQuantity"

OBJECTS: dict[str, ShopifyObject] = {
    "customers": ShopifyObject("customers", "customer", CUSTOMER, 200),
    "orders": ShopifyObject("orders", "order", ORDER, 20, (Nested("lineItems", 10, LINE_ITEM, "order"),),
                            all_records_scope="read_all_orders", window_days=60),
    "products": ShopifyObject("products", "product", PRODUCT, 40, (Nested("variants", 20, VARIANT, "product"),),
                              deletions="PRODUCT"),
}

DELETIONS = ("query($first: Int!, $after: String, $query: String, $types: [DeletionEventSubjectType!]) { "
             "deletionEvents(first: $first, after: $after, query: $query, subjectTypes: $types, sortKey: CREATED_AT) "
             "{ pageInfo { hasNextPage endCursor } nodes { occurredAt subjectId subjectType } } }")
SCOPES = "query { currentAppInstallation { accessScopes { handle } } }"
