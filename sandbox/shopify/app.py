"""The HTTP face of the sandbox: `POST /admin/api/{version}/graphql.json`, as Shopify's GraphQL Admin API.

Per request: the API version (an unknown or retired one is served as the oldest supported version, and
`X-Shopify-API-Version` says which version answered), the `X-Shopify-Access-Token` (401 if unknown), the body
(`application/json` `{"query", "variables", "operationName"}`, or `application/graphql`), parse and validation
(HTTP 200 with `errors`), the cost (`MAX_COST_EXCEEDED` over 1000), the bucket (`THROTTLED`), execution, and the
refund of requested minus actual cost. Every GraphQL answer carries `extensions.cost`.
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from typing import Any

import orjson
from graphql import (
    DocumentNode,
    FragmentDefinitionNode,
    GraphQLError,
    OperationDefinitionNode,
    execute,
    parse,
    validate,
)
from graphql.execution.values import get_variable_values
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from sandbox.faults import WriteRequest
from sandbox.shopify import faults
from sandbox.shopify.cost import CostCalculator
from sandbox.shopify.data import ShopifySandbox
from sandbox.shopify.errors import (
    INVALID_TOKEN,
    MAX_QUERY_COST,
    max_cost_exceeded,
    shopify_validation_error,
    syntax_error,
    throttled,
)
from sandbox.shopify.execute import Collector, FastExecutor
from sandbox.shopify.resolvers import Context
from sandbox.shopify.schema import RESOLVERS, SCHEMA
from sandbox.shopify.throttle import STANDARD, Bucket, Unlimited

log = logging.getLogger("inlet.sandbox.shopify")

# Shopify releases a version each quarter and supports each for at least 12 months; the sandbox serves these.
API_VERSIONS = ("2025-01", "2025-04", "2025-07", "2025-10", "2026-01", "2026-04", "2026-07", "2026-10")
UNSTABLE = "unstable"
JSON = "application/json; charset=utf-8"
_CACHE_SIZE = 512


def resolve_version(requested: str) -> str:
    """The version that answers: the one asked for if supported, else the oldest supported one (Shopify's
    documented fall-forward for unsupported versions)."""
    if requested == UNSTABLE or requested in API_VERSIONS:
        return requested
    return API_VERSIONS[0]


class _Documents:
    """Parsed and validated documents by query text: clients send the same few queries page after page."""

    def __init__(self) -> None:
        self._cache: OrderedDict[str, tuple[DocumentNode | None, list[dict]]] = OrderedDict()

    def get(self, query: str) -> tuple[DocumentNode | None, list[dict]]:
        found = self._cache.get(query)
        if found is not None:
            self._cache.move_to_end(query)
            return found
        try:
            document: DocumentNode | None = parse(query)
        except GraphQLError as exc:
            found = (None, [syntax_error(exc)])
        else:
            assert document is not None
            errors = validate(SCHEMA, document)
            found = (None, [shopify_validation_error(e) for e in errors]) if errors else (document, [])
        self._cache[query] = found
        if len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return found


def create_app(sandbox: ShopifySandbox, *, throttle: bool | tuple[float, float] = True) -> Starlette:
    """`throttle`: True for the standard plan's bucket (2000 points, 100 restored per second), a
    `(maximum, restore_rate)` tuple for another plan's, False for none (costs are still reported)."""
    figures = STANDARD if throttle is True else None if throttle is False else tuple(throttle)
    buckets: dict[str, Any] = {}
    documents = _Documents()

    def bucket_for(token: str) -> Any:
        found = buckets.get(token)
        if found is None:
            found = buckets[token] = Unlimited() if figures is None else Bucket(figures[0], figures[1], sandbox.now)
        return found

    async def graphql_endpoint(request: Request) -> Response:
        version = resolve_version(request.path_params["version"])
        headers = {"X-Shopify-API-Version": version, "X-Request-Id": str(uuid.uuid4())}
        if request.method != "POST":
            return _json({"errors": "Not Found"}, 404, headers)
        token = request.headers.get("x-shopify-access-token", "")
        scopes = sandbox.tokens.get(token)
        if scopes is None:
            return _json({"errors": INVALID_TOKEN}, 401, headers)
        body = await request.body()
        parsed = _read_body(body, request.headers.get("content-type", ""))
        if parsed is None:
            return _json({"errors": {"query": "Required parameter missing or invalid"}}, 400, headers)
        query, variables, operation_name = parsed
        sandbox.requests += 1
        if faults.is_mutation(documents.get(query)[0], operation_name):
            fault = sandbox.receive_write(WriteRequest("POST", request.url.path, body, None))
            if fault is not None:
                status, answer = faults.answer(fault, bucket_for(token), headers["X-Request-Id"])
                return _json(answer, status, headers)
        try:
            answer = run_query(sandbox, documents, bucket_for(token), set(scopes), query, variables, operation_name)
        except Exception:
            log.exception("sandbox failed on a GraphQL request")
            answer = {"errors": [{"message": "Internal error. Looks like something went wrong on our end.",
                                  "extensions": {"code": "INTERNAL_SERVER_ERROR",
                                                 "requestId": headers["X-Request-Id"]}}]}
        return _json(answer, 200, headers)

    async def not_found(request: Request) -> Response:
        return _json({"errors": "Not Found"}, 404, {})

    methods = ["GET", "POST", "PUT", "DELETE", "PATCH"]
    return Starlette(routes=[Route("/admin/api/{version}/graphql.json", graphql_endpoint, methods=methods),
                             Route("/{path:path}", not_found, methods=methods)])


def _json(body: Any, status: int, headers: dict[str, str]) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type=JSON)


def _read_body(body: bytes, content_type: str) -> tuple[str, dict, str | None] | None:
    if content_type.startswith("application/graphql"):
        text = body.decode("utf-8", "replace")
        return (text, {}, None) if text.strip() else None
    try:
        data = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("query"), str) or not data["query"].strip():
        return None
    variables = data.get("variables") or {}
    if isinstance(variables, str):  # some clients send the variables JSON-encoded
        try:
            variables = orjson.loads(variables) if variables.strip() else {}
        except orjson.JSONDecodeError:
            return None
    if not isinstance(variables, dict):
        return None
    name = data.get("operationName")
    return data["query"], variables, name if isinstance(name, str) and name else None


def _select_operation(document: DocumentNode, name: str | None) -> OperationDefinitionNode | dict:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if name is not None:
        for op in operations:
            if op.name is not None and op.name.value == name:
                return op
        return {"message": f'No operation named "{name}"', "extensions": {"code": "OPERATION_NOT_FOUND"}}
    if len(operations) == 1:
        return operations[0]
    return {"message": "An operation name is required", "extensions": {"code": "OPERATION_NAME_REQUIRED"}}


def _variable_error(error: GraphQLError, raw: dict) -> dict:
    """graphql-ruby's shape for a variable that does not coerce."""
    node = error.nodes[0] if error.nodes else None
    name = getattr(getattr(node, "variable", None), "name", None)
    var = name.value if name is not None else "?"
    type_text = node.type.loc.source.body[node.type.loc.start:node.type.loc.end] \
        if node is not None and getattr(node, "type", None) is not None and node.type.loc else "?"
    out: dict[str, Any] = {"message": f"Variable ${var} of type {type_text} was provided invalid value"}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    out["extensions"] = {"code": "INVALID_VARIABLE", "value": raw.get(var),
                         "problems": [{"path": [], "explanation": error.message}]}
    return out


def run_query(sb: ShopifySandbox, documents: _Documents, bucket: Any, scopes: set[str], query: str,
              variables: dict, operation_name: str | None, *, executor: str = "fast") -> dict:
    """One GraphQL request, past authentication: the response body as a dict."""

    def with_cost(body: dict, requested: int | None = 0, actual: int | None = 0) -> dict:
        body["extensions"] = {"cost": {"requestedQueryCost": requested, "actualQueryCost": actual,
                                       "throttleStatus": bucket.status()}, **body.get("extensions", {})}
        return body

    document, errors = documents.get(query)
    if document is None:
        return with_cost({"errors": errors})
    operation = _select_operation(document, operation_name)
    if isinstance(operation, dict):
        return with_cost({"errors": [operation]})
    coerced = get_variable_values(SCHEMA, operation.variable_definitions or (), variables)
    if isinstance(coerced, list):
        return with_cost({"errors": [_variable_error(e, variables) for e in coerced]})
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    collector = Collector(SCHEMA, fragments, coerced)
    calculator = CostCalculator(collector, operation)
    requested = calculator.requested()
    if requested > MAX_QUERY_COST:
        return with_cost({"errors": [max_cost_exceeded(requested)]}, requested, None)
    if not bucket.take(requested):
        sb.throttled += 1
        return with_cost({"errors": [throttled()]}, requested, None)

    context = Context(sb, scopes)
    if executor == "graphql-core" or _introspects(operation):
        result = execute(SCHEMA, document, context_value=context, variable_values=variables,
                         operation_name=operation_name)
        data = result.data  # type: ignore[union-attr]
        errors = [e.formatted for e in result.errors or ()]  # type: ignore[union-attr]
    else:
        data, errors = FastExecutor(SCHEMA, RESOLVERS, collector, operation, context).run()
    actual = calculator.actual(data)
    bucket.refund(requested - actual)
    body: dict[str, Any] = {}
    if errors:
        body["errors"] = errors
    body["data"] = data
    if context.search:
        body["extensions"] = {"search": context.search}
    return with_cost(body, requested, actual)


def _introspects(operation: OperationDefinitionNode) -> bool:
    return any(getattr(sel, "name", None) is not None and sel.name.value in ("__schema", "__type")  # type: ignore
               for sel in operation.selection_set.selections)
