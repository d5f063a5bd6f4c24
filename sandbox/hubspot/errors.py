"""HubSpot's error bodies (VENDOR_FACTS 1.1, 1.4, 1.5), so clients meet the same shapes and messages as from the
real API: `{"status":"error","message","correlationId","context"?,"errors"?,"category"}`.

Messages quoted in VENDOR_FACTS are verbatim; the others are marked where they are defined as best guesses.
"""

from __future__ import annotations

import uuid

import orjson

PORTAL_ID = 24_476_478  # the sandbox account's portal (hub) id, as HubSpot puts it in validation messages
AUTH_MESSAGE = ("Authentication credentials not found. This API supports OAuth 2.0 authentication and you can find "
                "more details at https://developers.hubspot.com/docs/methods/auth/oauth-overview")
NOT_FOUND_MESSAGE = "Object not found.  objectId are usually numeric."  # two spaces, as HubSpot sends it
TEN_SECONDLY = "You have reached your ten_secondly_rolling limit."
SECONDLY = "You have reached your secondly limit."
DAILY = "You have reached your daily limit."


def correlation_id() -> str:
    return str(uuid.uuid4())


class HubSpotError(Exception):
    """One failed request, rendered as HubSpot's `Error` schema (plus `"status":"error"`, which real bodies carry)."""

    def __init__(self, status: int, message: str, category: str, *, context: dict[str, list[str]] | None = None,
                 errors: list[dict] | None = None, sub_category: str | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.category = category
        self.context = context
        self.errors = errors
        self.sub_category = sub_category

    def body(self, correlation: str) -> dict:
        body: dict = {"status": "error", "message": self.message, "correlationId": correlation}
        if self.sub_category:
            body["subCategory"] = self.sub_category
        if self.context is not None:
            body["context"] = self.context
        if self.errors is not None:
            body["errors"] = self.errors
        body["category"] = self.category
        return body


def unauthorized() -> HubSpotError:
    return HubSpotError(401, AUTH_MESSAGE, "INVALID_AUTHENTICATION")


def object_not_found(object_id: str) -> HubSpotError:
    return HubSpotError(404, NOT_FOUND_MESSAGE, "OBJECT_NOT_FOUND", context={"id": [object_id]})


def unknown_object_type(name: str) -> HubSpotError:
    # Message observed from HubSpot (hubspot-api-php #128, #233); its category there is not shown [UNCONFIRMED].
    return HubSpotError(400, f"Unable to infer object type from: {name}", "VALIDATION_ERROR")


def unknown_route(method: str, path: str) -> HubSpotError:
    # HubSpot's body for a URL no endpoint serves is not documented; a HubSpot-shaped 404 [UNCONFIRMED wording].
    return HubSpotError(404, f"Unable to route {method} request to {path}", "OBJECT_NOT_FOUND")


def method_not_allowed(method: str) -> HubSpotError:
    return HubSpotError(405, f"HTTP {method} is not supported by this endpoint", "VALIDATION_ERROR")


def validation(message: str, **extra) -> HubSpotError:
    return HubSpotError(400, message, "VALIDATION_ERROR", **extra)


def bad_json(detail: str, line: int = 1, column: int = 1) -> HubSpotError:
    # The Jackson-style wording HubSpot sends for unreadable bodies (hubspot-api-nodejs #128, hubspot-php #379).
    return validation(f"Invalid input JSON on line {line}, column {column}: {detail}")


def conflict(message: str) -> HubSpotError:
    return HubSpotError(409, message, "CONFLICT")


def property_errors(problems: list[tuple[str, str, str]]) -> HubSpotError:
    """400 for invalid property values; `problems` holds (property name, code, message). The message embeds the
    per-property results as HubSpot does (VENDOR_FACTS 1.5, observed body)."""
    details = [{"isValid": False, "message": message, "error": code, "name": name,
                "localizedErrorMessage": message, "portalId": PORTAL_ID} for name, code, message in problems]
    text = "Property values were not valid: " + orjson.dumps(details).decode()
    errors = [{"message": message, "code": code, "context": {"propertyName": [name]}}
              for name, code, message in problems]
    return validation(text, errors=errors)


def rate_limit_body(message: str, policy: str | None, correlation: str) -> dict:
    """A 429 body (VENDOR_FACTS 1.4). The secondly (search) limit's body is only documented by its message; it gets
    the same fields with policyName SECONDLY [UNCONFIRMED]."""
    body = {"status": "error", "message": message, "errorType": "RATE_LIMIT", "correlationId": correlation}
    if policy:
        body["policyName"] = policy
    body["requestId"] = correlation_id()
    return body
