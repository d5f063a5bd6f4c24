"""Injected write failures (`ShopifySandbox.fail_writes`, see `sandbox.faults`) as Shopify would answer them.

Write requests are GraphQL documents whose operation is a mutation. Shopify fails in two ways:
- over HTTP, e.g. `fail_writes(1, 503)`: that status with `{"errors": "Service Unavailable"}` (the REST-style
  body Shopify's front sends for 5xx [UNCONFIRMED wording]);
- in band, HTTP 200 with a GraphQL error: `code="INTERNAL_SERVER_ERROR"` (the body the sandbox's own crashes
  get, as seen from Shopify) or `code="THROTTLED"` (the throttled body and the bucket's cost report).
"""

from __future__ import annotations

from typing import Any

from graphql import DocumentNode, OperationDefinitionNode, OperationType

from sandbox.faults import Fault
from sandbox.shopify.errors import throttled

MESSAGES = {500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable", 504: "Gateway Timeout"}
INTERNAL = "Internal error. Looks like something went wrong on our end."


def is_mutation(document: DocumentNode | None, operation_name: str | None) -> bool:
    if document is None:
        return False
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is not None:
        operations = [op for op in operations if op.name is not None and op.name.value == operation_name]
    return len(operations) == 1 and operations[0].operation == OperationType.MUTATION


def answer(fault: Fault, bucket: Any, request_id: str) -> tuple[int, dict]:
    """(HTTP status, body) for an injected failure."""
    if fault.code == "INTERNAL_SERVER_ERROR":
        return 200, {"errors": [{"message": f"{INTERNAL}\nRequest ID: {request_id}",
                                 "extensions": {"code": "INTERNAL_SERVER_ERROR", "requestId": request_id}}]}
    if fault.code == "THROTTLED":
        cost = {"requestedQueryCost": 10, "actualQueryCost": None, "throttleStatus": bucket.status()}
        return 200, {"errors": [throttled()], "extensions": {"cost": cost}}
    return fault.status, {"errors": MESSAGES.get(fault.status, f"injected failure (HTTP {fault.status})")}
