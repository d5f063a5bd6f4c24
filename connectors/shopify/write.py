"""Write-back to Shopify through the GraphQL Admin API: one `customerUpdate` per customer, paced by the source's
cost bucket (shared with the pull, so writes and reads spend the same quota).

Why not several aliased mutations in one document: Shopify charges every mutation its 10 points wherever it
sits, so batching saves round trips only, and one bad variable (a malformed id) fails the whole document,
which would then have to be split again. Calls for different customers run a few at a time instead.

Answers: `userErrors` reject the item with Shopify's messages; THROTTLED waits for the bucket and asks again
(bounded, as the pull does); ACCESS_DENIED and other top-level errors about the request reject it; an
in-band INTERNAL_SERVER_ERROR is retried a few times with the client's backoff, then "retry". HTTP 5xx and
network errors are the kit's to retry; a 401 raises `CredentialsRefused`, as a read does.

Paths: `email`, `firstName`, `lastName`, `phone`, `note` (None clears), `tags` (a list, or a string split on
","; the whole list is replaced), `metafields.<namespace>.<key>` (a `single_line_text_field`).
"""

from __future__ import annotations

from typing import Any

from connectors.kit import RateLimited, TransientError
from connectors.kit.writes import WriteIn, WriteOutcome, one_at_a_time, plain, send, vendor_text
from connectors.shopify.graphql import MAX_THROTTLED, ShopifyGraphQL

MUTATION = """mutation inletCustomerUpdate($input: CustomerInput!) {
  customerUpdate(input: $input) { customer { id } userErrors { field message } }
}"""
MUTATION_COST = 10.0  # what Shopify charges a mutation; replaced by the requestedQueryCost it reports
TEXT_FIELDS = ("email", "firstName", "lastName", "phone", "note")
METAFIELD_TYPE = "single_line_text_field"
MAX_INTERNAL = 3  # in-band INTERNAL_SERVER_ERROR answers retried before the item is left for later
CONCURRENCY = 4
OBJECT = "customers"


def customer_gid(external_id: str) -> str | None:
    if external_id.isdigit():
        return f"gid://shopify/Customer/{external_id}"
    return external_id if external_id.startswith("gid://shopify/Customer/") else None


def customer_input(item: WriteIn) -> tuple[dict[str, Any], str | None]:
    """The `CustomerInput` for an item's changes, or why there is none."""
    gid = customer_gid(item.external_id)
    if gid is None:
        return {}, f"not a Shopify customer id: {item.external_id!r}"
    if not item.changes:
        return {}, "no changes to write"
    data: dict[str, Any] = {"id": gid}
    metafields = []
    for path, value in item.changes.items():
        if path in TEXT_FIELDS:
            data[path] = None if value is None else plain(value)
        elif path == "tags":
            data["tags"] = tags(value)
        elif path.startswith("metafields."):
            parts = path.split(".")
            if len(parts) != 3 or not parts[1] or not parts[2]:
                return {}, f"a metafield path is `metafields.<namespace>.<key>`, not {path!r}"
            if value is None:
                return {}, f"{path}: clearing a Shopify metafield is not supported (it takes metafieldsDelete)"
            metafields.append({"namespace": parts[1], "key": parts[2], "type": METAFIELD_TYPE, "value": plain(value)})
        else:
            return {}, (f"Shopify write-back takes {', '.join(TEXT_FIELDS)}, tags and metafields.<namespace>.<key>, "
                        f"not {path!r}")
    if metafields:
        data["metafields"] = metafields
    return data, None


def tags(value: Any) -> list[str]:
    """A list of tags; a string is split on "," as Shopify splits it; None removes them all."""
    if value is None:
        return []
    values = value.split(",") if isinstance(value, str) else [plain(v) for v in value]
    return [t.strip() for t in values if t.strip()]


class ShopifyWriter:
    def __init__(self, gql: ShopifyGraphQL) -> None:
        self.gql, self.client = gql, gql.client
        self._cost = MUTATION_COST

    async def write(self, items: list[WriteIn]) -> list[WriteOutcome]:
        outcomes: list[WriteOutcome | None] = [None] * len(items)
        inputs: dict[int, dict[str, Any]] = {}
        for i, item in enumerate(items):
            if item.object_type != "customer":
                outcomes[i] = WriteOutcome.rejected(item, None, "Shopify write-back supports customers only, not "
                                                    f"{item.object_type!r}")
                continue
            data, problem = customer_input(item)
            if problem is not None:
                outcomes[i] = WriteOutcome.rejected(item, None, problem)
            else:
                inputs[i] = data

        async def update(i: int) -> WriteOutcome:
            return await self._update(items[i], inputs[i])

        await one_at_a_time(items, outcomes, update, concurrency=CONCURRENCY)
        return outcomes  # type: ignore[return-value]

    async def _update(self, item: WriteIn, data: dict[str, Any]) -> WriteOutcome:
        throttled = internal = 0
        payload = {"query": MUTATION, "variables": {"input": data}}
        while True:
            await self.gql.pace(self._cost)
            answer = await send(self.client, "POST", self.gql.path, object_name=OBJECT, json_body=payload)
            body = answer.body if isinstance(answer.body, dict) else {}
            if not answer.ok:
                message = body.get("errors") if body else answer.body
                return WriteOutcome.rejected(item, answer.status, self._text(message or f"HTTP {answer.status}"))
            cost = (body.get("extensions") or {}).get("cost")
            self.gql.bucket.observe(cost)
            if isinstance(cost, dict) and isinstance(cost.get("requestedQueryCost"), int | float):
                self._cost = float(cost["requestedQueryCost"])
            errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
            codes = {(e.get("extensions") or {}).get("code") for e in errors}
            if "THROTTLED" in codes:
                self.gql.note_throttled()
                throttled += 1
                if throttled > MAX_THROTTLED:
                    raise RateLimited(self.client.source_id, OBJECT, 200,
                                      f"THROTTLED {throttled} times in a row: another app may be using this shop's "
                                      "quota")
                continue
            if "INTERNAL_SERVER_ERROR" in codes:
                internal += 1
                if internal > MAX_INTERNAL:
                    raise TransientError(self.client.source_id, OBJECT, 200, self._text(_messages(errors)))
                policy = self.client.retry_policy
                await policy.sleep(policy.wait_for(internal, None))
                continue
            if errors:  # ACCESS_DENIED, a malformed id, a variable Shopify could not take
                return WriteOutcome.rejected(item, 200, self._text(_messages(errors)))
            result = (body.get("data") or {}).get("customerUpdate")
            if not isinstance(result, dict):
                return WriteOutcome.retry(item, 200, "Shopify answered without a customerUpdate payload")
            user_errors = [e for e in result.get("userErrors") or [] if isinstance(e, dict)]
            if user_errors:
                return WriteOutcome.rejected(item, 200, self._text("; ".join(_user_error(e) for e in user_errors)))
            if result.get("customer") is None:
                return WriteOutcome.rejected(item, 200, "Shopify did not return the customer (it may not exist)")
            return WriteOutcome.sent(item, 200)

    def _text(self, message: Any) -> str:
        return vendor_text(self.client, message if isinstance(message, str) else plain(message))


def _messages(errors: list[dict]) -> str:
    parts = []
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        parts.append(f"{code}: {error.get('message')}" if code else str(error.get("message")))
    return "; ".join(parts)


def _user_error(error: dict) -> str:
    field = error.get("field")
    where = ".".join(str(f) for f in field) if isinstance(field, list) and field else ""
    return f"{where}: {error.get('message')}" if where else str(error.get("message"))
