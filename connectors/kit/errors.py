"""Every error a connector raises, in one tree, so the sync runner can tell "try later" from "fix the config".

    ConnectorError                 source id, object, HTTP status (None when no response), message
    ├── TransientError             retriable: 5xx, connection errors, timeouts, Stripe-Should-Retry: true
    │   └── RateLimited            429 and vendor rate-limit signals; carries retry_after when the vendor said
    └── FatalError                 never retried: the same request would fail the same way
        ├── CredentialsRefused     401/403: the source's credentials are wrong or lack scopes (a config error)
        ├── DailyLimitReached      a quota that resets in hours (HubSpot policyName DAILY): stop the run
        ├── RequestRejected        any other 4xx: the request itself is wrong
        └── PaginationError        the vendor's paging cannot be followed
            └── PaginationLoop     a page token came back twice: following it would loop forever

Retriable and fatal errors sit on separate branches so a retry rule is one `isinstance` check, never a list
of status codes kept in sync by hand. Messages are redacted by the client before an error is built; an
error never holds a secret, so it is safe to log and to store in `sync_runs.error`.
"""

from __future__ import annotations

from typing import Self

__all__ = [
    "ConnectorError",
    "CredentialsRefused",
    "DailyLimitReached",
    "FatalError",
    "PaginationError",
    "PaginationLoop",
    "RateLimited",
    "RequestRejected",
    "TransientError",
]


class ConnectorError(Exception):
    """Base of the tree. The str names source, object and status because that is what a user needs first
    when a scheduled run fails: which source to look at, which object, and what the vendor answered."""

    def __init__(self, source_id: str, object_name: str, status: int | None, message: str) -> None:
        self.source_id = source_id
        self.object_name = object_name
        self.status = status
        self.message = message
        self.attempts = 1
        super().__init__(source_id, object_name, status, message)

    def __str__(self) -> str:
        status = f"HTTP {self.status}" if self.status is not None else "no HTTP status"
        tries = f" (gave up after {self.attempts} attempts)" if self.attempts > 1 else ""
        return f"source {self.source_id!r}, object {self.object_name!r}, {status}: {self.message}{tries}"

    def with_context(self, source_id: str, object_name: str) -> Self:
        """A copy naming the source and object: paginators raise without knowing them, the client fills in."""
        copy = type(self).__new__(type(self))
        copy.__dict__.update(self.__dict__)
        copy.source_id, copy.object_name = source_id, object_name
        copy.args = (source_id, object_name, self.status, self.message)
        return copy


class TransientError(ConnectorError):
    """The same request may succeed later. `retry_after` is the vendor's own wait in seconds when it gave one;
    the retry policy prefers it to its own backoff."""

    def __init__(self, source_id: str, object_name: str, status: int | None, message: str,
                 retry_after: float | None = None) -> None:
        super().__init__(source_id, object_name, status, message)
        self.retry_after = retry_after


class RateLimited(TransientError):
    """The vendor asked us to slow down. A normal sync should never see it (the limiter stays under the
    documented limits); when it does, the wait honours Retry-After or the vendor's documented window."""


class FatalError(ConnectorError):
    """Retrying cannot help: a person has to change config, code or wait for a quota reset."""


class CredentialsRefused(FatalError):
    """401/403. The message says which source's credentials were refused and never quotes them."""


class DailyLimitReached(FatalError):
    """A daily quota is spent; retrying within the run would only burn more of tomorrow's budget."""


class RequestRejected(FatalError):
    """Any other 4xx (or a vendor's explicit "do not retry"): the request is wrong, not the moment."""


class PaginationError(FatalError):
    """The vendor's paging data cannot be followed (e.g. more pages announced but no way to reach them)."""


class PaginationLoop(PaginationError):
    """A page token repeated. Meltano's lesson: raise instead of fetching the same page forever."""
