"""Shopify's error shapes.

- HTTP 401 for an unknown token: `{"errors": "[API] Invalid API key or access token (unrecognized login or wrong
  password)"}` (VENDOR_FACTS 2).
- Everything about the query itself is HTTP 200 with a GraphQL `errors` list:
  - field without the scope: `Access denied for customers field. Required access: `read_customers` access scope.`,
    `extensions: {code: ACCESS_DENIED, documentation, requiredAccess}` (seen in real responses);
  - throttled: `{"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation":
    "https://shopify.dev/api/usage/rate-limits"}}`, no `data`, `actualQueryCost: null` (captured response on the
    Shopify community forum);
  - too expensive: `Query cost is 1502, which exceeds the single query max cost limit (1000).` + a pointer to the
    docs and to bulk operations, `extensions: {code: MAX_COST_EXCEEDED, cost, maxCost, documentation}`;
  - connection without `first`/`last`: `you must provide one of first or last` (code BAD_REQUEST in newer
    captures), data null.
"""

from __future__ import annotations

import re

from graphql import GraphQLError

INVALID_TOKEN = "[API] Invalid API key or access token (unrecognized login or wrong password)"
RATE_LIMITS_DOC = "https://shopify.dev/api/usage/rate-limits"
LIMITS_DOC = "https://shopify.dev/api/usage/limits#rate-limits"
SCOPES_DOC = "https://shopify.dev/api/usage/access-scopes"
MAX_QUERY_COST = 1000


class FieldError(GraphQLError):
    """An error raised by a resolver; the executor adds the field's location and path."""

    def __init__(self, message: str, **extensions: object) -> None:
        super().__init__(message, extensions=extensions or None)


def access_denied(field: str, scope: str) -> FieldError:
    required = f"`{scope}` access scope."
    return FieldError(f"Access denied for {field} field. Required access: {required}", code="ACCESS_DENIED",
                      documentation=SCOPES_DOC, requiredAccess=required)


def bad_request(message: str) -> FieldError:
    return FieldError(message, code="BAD_REQUEST")


def invalid_id(value: object) -> FieldError:
    # graphql-ruby's coercion failure for a malformed GID, as Shopify answers it
    return FieldError(f"Invalid global id '{value}'", code="argumentLiteralsIncompatible", typeName="CoercionError")


def throttled() -> dict:
    return {"message": "Throttled", "extensions": {"code": "THROTTLED", "documentation": RATE_LIMITS_DOC}}


def max_cost_exceeded(cost: int) -> dict:
    message = (f"Query cost is {cost}, which exceeds the single query max cost limit ({MAX_QUERY_COST}).\n\n"
               "See https://shopify.dev/concepts/about-apis/rate-limits for more information on how the\n"
               "cost of a query is calculated.\n\n"
               "To query larger amounts of data with fewer limits, bulk operations should be used instead.\n"
               "See https://shopify.dev/tutorials/perform-bulk-operations-with-admin-api for usage details.\n")
    return {"message": message, "extensions": {"code": "MAX_COST_EXCEEDED", "cost": cost,
                                               "maxCost": MAX_QUERY_COST, "documentation": LIMITS_DOC}}


# graphql-core's validation messages, reworded as graphql-ruby (which Shopify runs) words them, with its codes
def shopify_validation_error(error: GraphQLError) -> dict:
    message = error.message
    extensions: dict[str, object] = {}
    if m := re.match(r"Cannot query field '(\w+)' on type '(\w+)'", message):
        field, type_name = m.groups()
        message = f"Field '{field}' doesn't exist on type '{type_name}'"
        extensions = {"code": "undefinedField", "typeName": type_name, "fieldName": field}
    elif m := re.match(r"(?:Field '(\w+)' argument '(\w+)'|Argument '\w+\.(\w+)\((\w+):\)') of type '[^']+' is "
                       r"required", message):
        field, arg = m.group(1) or m.group(3), m.group(2) or m.group(4)
        message = f"Field '{field}' is missing required arguments: {arg}"
        extensions = {"code": "missingRequiredArguments", "className": "Field", "name": field, "arguments": arg}
    elif m := re.match(r"Unknown argument '(\w+)' on field '\w+\.(\w+)'", message):
        arg, field = m.groups()
        message = f"Field '{field}' doesn't accept argument '{arg}'"
        extensions = {"code": "argumentNotAccepted", "name": field, "typeName": "Field", "argumentName": arg}
    elif m := re.match(r"Field '(\w+)' of type '([^']+)' must have a selection of subfields", message):
        field, type_name = m.groups()
        message = f"Field must have selections (field '{field}' returns {type_name.strip('[]!')} but has no "\
                  "selections. Did you mean '" + field + " { ... }'?)"
        extensions = {"code": "selectionMismatch", "nodeName": f"field '{field}'",
                      "typeName": type_name.strip("[]!")}
    elif m := re.match(r"Unknown type '(\w+)'", message):
        message = f"No such type {m.group(1)}, so it can't be a fragment condition"
        extensions = {"code": "undefinedType", "typeName": m.group(1)}
    elif m := re.match(r"Variable '\$(\w+)' is never used", message):
        message = f"Variable ${m.group(1)} is declared by anonymous query but not used"
        extensions = {"code": "variableNotUsed", "variableName": m.group(1)}
    elif m := re.match(r"Variable '\$(\w+)' is not defined", message):
        message = f"Variable ${m.group(1)} is used by anonymous query but not declared"
        extensions = {"code": "variableNotDefined", "variableName": m.group(1)}
    else:
        extensions = {"code": "validationError"}
    out: dict[str, object] = {"message": message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    out["extensions"] = extensions
    return out


def syntax_error(error: GraphQLError) -> dict:
    """A document that does not parse. graphql-ruby words these differently ("Parse error on …"); the sandbox
    keeps graphql-core's description and marks it with code PARSE_ERROR (no documented Shopify code)."""
    out: dict[str, object] = {"message": error.message}
    if error.locations:
        out["locations"] = [{"line": loc.line, "column": loc.column} for loc in error.locations]
    out["extensions"] = {"code": "PARSE_ERROR"}
    return out
