"""The SDL of the part of Shopify's GraphQL Admin API the sandbox serves (kept in Python so it ships with the
package: package data only carries *.yaml and *.html)."""

SDL = """
# The part of Shopify's GraphQL Admin API (2025-01 .. 2026-10) the sandbox serves. Type, field, argument and enum
# names follow shopify.dev's reference; enums such as CurrencyCode and CountryCode are cut down to the values the
# sandbox uses.

schema {
  query: QueryRoot
  mutation: Mutation
}

scalar DateTime
scalar Decimal
scalar Money
scalar UnsignedInt64
scalar HTML
scalar URL

interface Node {
  id: ID!
}

type PageInfo {
  hasNextPage: Boolean!
  hasPreviousPage: Boolean!
  startCursor: String
  endCursor: String
}

enum CurrencyCode { USD CAD EUR GBP AUD JPY }

enum CountryCode { US CA GB DE FR AU NL SE ES IT JP IE NZ }

type MoneyV2 {
  amount: Decimal!
  currencyCode: CurrencyCode!
}

type MoneyBag {
  shopMoney: MoneyV2!
  presentmentMoney: MoneyV2!
}

type MailingAddress implements Node {
  id: ID!
  firstName: String
  lastName: String
  name: String
  company: String
  address1: String
  address2: String
  city: String
  province: String
  provinceCode: String
  country: String
  countryCodeV2: CountryCode
  zip: String
  phone: String
}

type Metafield implements Node {
  id: ID!
  namespace: String!
  key: String!
  value: String!
  type: String!
  createdAt: DateTime!
  updatedAt: DateTime!
}

type MetafieldEdge {
  cursor: String!
  node: Metafield!
}

type MetafieldConnection {
  edges: [MetafieldEdge!]!
  nodes: [Metafield!]!
  pageInfo: PageInfo!
}

# --- customers ------------------------------------------------------------------------------------------------

enum CustomerState { DECLINED DISABLED ENABLED INVITED }

enum CustomerEmailAddressMarketingState { INVALID NOT_SUBSCRIBED PENDING SUBSCRIBED UNSUBSCRIBED }

enum CustomerSortKeys { CREATED_AT ID LOCATION NAME RELEVANCE UPDATED_AT }

type CustomerEmailAddress {
  emailAddress: String
  marketingState: CustomerEmailAddressMarketingState!
}

type Customer implements Node {
  id: ID!
  firstName: String
  lastName: String
  displayName: String!
  email: String
  phone: String
  defaultEmailAddress: CustomerEmailAddress
  tags: [String!]!
  note: String
  state: CustomerState!
  verifiedEmail: Boolean!
  taxExempt: Boolean!
  numberOfOrders: UnsignedInt64!
  amountSpent: MoneyV2!
  createdAt: DateTime!
  updatedAt: DateTime!
  defaultAddress: MailingAddress
  metafield(namespace: String, key: String!): Metafield
  metafields(first: Int, after: String, last: Int, before: String, reverse: Boolean = false, namespace: String,
             keys: [String!]): MetafieldConnection!
}

type CustomerEdge {
  cursor: String!
  node: Customer!
}

type CustomerConnection {
  edges: [CustomerEdge!]!
  nodes: [Customer!]!
  pageInfo: PageInfo!
}

# --- orders ---------------------------------------------------------------------------------------------------

enum OrderSortKeys {
  CREATED_AT CURRENT_TOTAL_PRICE CUSTOMER_NAME DESTINATION FINANCIAL_STATUS FULFILLMENT_STATUS ID ORDER_NUMBER
  PO_NUMBER PROCESSED_AT RELEVANCE TOTAL_ITEMS_QUANTITY TOTAL_PRICE UPDATED_AT
}

enum OrderCancelReason { CUSTOMER DECLINED FRAUD INVENTORY OTHER STAFF }

enum OrderDisplayFinancialStatus { AUTHORIZED EXPIRED PAID PARTIALLY_PAID PARTIALLY_REFUNDED PENDING REFUNDED VOIDED }

enum OrderDisplayFulfillmentStatus {
  FULFILLED IN_PROGRESS ON_HOLD OPEN PARTIALLY_FULFILLED PENDING_FULFILLMENT REQUEST_DECLINED RESTOCKED SCHEDULED
  UNFULFILLED
}

type LineItem implements Node {
  id: ID!
  title: String!
  name: String!
  quantity: Int!
  sku: String
  vendor: String
  originalUnitPriceSet: MoneyBag!
}

type LineItemEdge {
  cursor: String!
  node: LineItem!
}

type LineItemConnection {
  edges: [LineItemEdge!]!
  nodes: [LineItem!]!
  pageInfo: PageInfo!
}

type Order implements Node {
  id: ID!
  name: String!
  email: String
  createdAt: DateTime!
  updatedAt: DateTime!
  processedAt: DateTime!
  closedAt: DateTime
  cancelledAt: DateTime
  cancelReason: OrderCancelReason
  closed: Boolean!
  displayFinancialStatus: OrderDisplayFinancialStatus
  displayFulfillmentStatus: OrderDisplayFulfillmentStatus!
  currencyCode: CurrencyCode!
  test: Boolean!
  tags: [String!]!
  note: String
  totalPriceSet: MoneyBag!
  subtotalPriceSet: MoneyBag
  totalTaxSet: MoneyBag
  customer: Customer
  lineItems(first: Int, after: String, last: Int, before: String, reverse: Boolean = false): LineItemConnection!
}

type OrderEdge {
  cursor: String!
  node: Order!
}

type OrderConnection {
  edges: [OrderEdge!]!
  nodes: [Order!]!
  pageInfo: PageInfo!
}

# --- products -------------------------------------------------------------------------------------------------

enum ProductStatus { ACTIVE ARCHIVED DRAFT }

enum ProductSortKeys { CREATED_AT ID INVENTORY_TOTAL PRODUCT_TYPE PUBLISHED_AT RELEVANCE TITLE UPDATED_AT VENDOR }

type ProductVariant implements Node {
  id: ID!
  title: String!
  sku: String
  price: Money!
  inventoryQuantity: Int
  createdAt: DateTime!
  updatedAt: DateTime!
}

type ProductVariantEdge {
  cursor: String!
  node: ProductVariant!
}

type ProductVariantConnection {
  edges: [ProductVariantEdge!]!
  nodes: [ProductVariant!]!
  pageInfo: PageInfo!
}

type Product implements Node {
  id: ID!
  title: String!
  handle: String!
  status: ProductStatus!
  vendor: String!
  productType: String!
  tags: [String!]!
  createdAt: DateTime!
  updatedAt: DateTime!
  publishedAt: DateTime
  descriptionHtml: HTML!
  totalInventory: Int!
  variants(first: Int, after: String, last: Int, before: String, reverse: Boolean = false): ProductVariantConnection!
  metafield(namespace: String, key: String!): Metafield
  metafields(first: Int, after: String, last: Int, before: String, reverse: Boolean = false, namespace: String,
             keys: [String!]): MetafieldConnection!
}

type ProductEdge {
  cursor: String!
  node: Product!
}

type ProductConnection {
  edges: [ProductEdge!]!
  nodes: [Product!]!
  pageInfo: PageInfo!
}

# --- deletion events ------------------------------------------------------------------------------------------

enum DeletionEventSubjectType { COLLECTION PRODUCT }

enum DeletionEventSortKeys { CREATED_AT ID }

type DeletionEvent {
  occurredAt: DateTime!
  subjectId: ID!
  subjectType: DeletionEventSubjectType!
}

type DeletionEventEdge {
  cursor: String!
  node: DeletionEvent!
}

type DeletionEventConnection {
  edges: [DeletionEventEdge!]!
  nodes: [DeletionEvent!]!
  pageInfo: PageInfo!
}

# --- shop and app ---------------------------------------------------------------------------------------------

type Shop implements Node {
  id: ID!
  name: String!
  email: String!
  myshopifyDomain: String!
  ianaTimezone: String!
  currencyCode: CurrencyCode!
}

type AccessScope {
  handle: String!
  description: String!
}

type AppInstallation implements Node {
  id: ID!
  accessScopes: [AccessScope!]!
}

# --- roots ----------------------------------------------------------------------------------------------------

type QueryRoot {
  customers(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
            sortKey: CustomerSortKeys = ID, query: String): CustomerConnection!
  customer(id: ID!): Customer
  orders(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
         sortKey: OrderSortKeys = PROCESSED_AT, query: String): OrderConnection!
  order(id: ID!): Order
  products(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
           sortKey: ProductSortKeys = ID, query: String): ProductConnection!
  product(id: ID!): Product
  node(id: ID!): Node
  nodes(ids: [ID!]!): [Node]!
  shop: Shop!
  currentAppInstallation: AppInstallation!
  deletionEvents(first: Int, after: String, last: Int, before: String, reverse: Boolean = false,
                 sortKey: DeletionEventSortKeys = ID, query: String,
                 subjectTypes: [DeletionEventSubjectType!]): DeletionEventConnection!
}

type UserError {
  field: [String!]
  message: String!
}

enum MetafieldsSetUserErrorCode {
  BLANK INCLUSION INVALID INVALID_TYPE INVALID_VALUE LESS_THAN_OR_EQUAL_TO PRESENT TAKEN TOO_LONG TOO_SHORT
}

type MetafieldsSetUserError {
  field: [String!]
  message: String!
  code: MetafieldsSetUserErrorCode
  elementIndex: Int
}

input MetafieldInput {
  id: ID
  namespace: String
  key: String
  value: String
  type: String
}

input CustomerInput {
  id: ID
  firstName: String
  lastName: String
  email: String
  phone: String
  note: String
  tags: [String!]
  taxExempt: Boolean
  metafields: [MetafieldInput!]
}

input MetafieldsSetInput {
  ownerId: ID!
  namespace: String
  key: String!
  value: String!
  type: String
  compareDigest: String
}

type CustomerUpdatePayload {
  customer: Customer
  userErrors: [UserError!]!
}

type TagsAddPayload {
  node: Node
  userErrors: [UserError!]!
}

type TagsRemovePayload {
  node: Node
  userErrors: [UserError!]!
}

type MetafieldsSetPayload {
  metafields: [Metafield!]
  userErrors: [MetafieldsSetUserError!]!
}

type Mutation {
  customerUpdate(input: CustomerInput!): CustomerUpdatePayload
  tagsAdd(id: ID!, tags: [String!]!): TagsAddPayload
  tagsRemove(id: ID!, tags: [String!]!): TagsRemovePayload
  metafieldsSet(metafields: [MetafieldsSetInput!]!): MetafieldsSetPayload
}
"""
