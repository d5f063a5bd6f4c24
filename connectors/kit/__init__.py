"""What every connector shares: the data contract with the engine (records, pages, streams, the connector, writes,
ids) and the HTTP kit (one client per source, auth, pagination, the status table, the retry policy, the rate
limiter and the error tree).

Connectors import from here only; the modules behind it may move. A connector is then a handful of data
(base URL, auth, limiter preset, one paginator per stream) and its own parsing, never its own HTTP loop.
"""

from connectors.kit import observe
from connectors.kit.auth import BearerToken, HeaderToken, redact
from connectors.kit.client import SourceClient
from connectors.kit.errors import (
    ConnectorError,
    CredentialsRefused,
    DailyLimitReached,
    FatalError,
    PaginationError,
    PaginationLoop,
    RateLimited,
    RequestRejected,
    TransientError,
)
from connectors.kit.ids import new_id
from connectors.kit.limiter import Capacity, RateLimiter, WindowLimiter
from connectors.kit.model import Connector, Page, RecordIn, Stream
from connectors.kit.pagination import (
    AfterCursor,
    ConnectionCursor,
    EndingBefore,
    Paginator,
    StartingAfter,
)
from connectors.kit.retry import RetryPolicy
from connectors.kit.statuses import STATUS_TABLE, Action, Decision, classify, parse_retry_after
from connectors.kit.writes import WriteIn, WriteOutcome

__all__ = [
    "STATUS_TABLE",
    "Action",
    "AfterCursor",
    "BearerToken",
    "Capacity",
    "ConnectionCursor",
    "Connector",
    "ConnectorError",
    "CredentialsRefused",
    "DailyLimitReached",
    "Decision",
    "EndingBefore",
    "FatalError",
    "HeaderToken",
    "Page",
    "PaginationError",
    "PaginationLoop",
    "Paginator",
    "RateLimited",
    "RateLimiter",
    "RecordIn",
    "RequestRejected",
    "RetryPolicy",
    "SourceClient",
    "StartingAfter",
    "Stream",
    "TransientError",
    "WindowLimiter",
    "WriteIn",
    "WriteOutcome",
    "classify",
    "new_id",
    "observe",
    "parse_retry_after",
    "redact",
]
