"""inlet's configuration: one YAML file, pydantic models, errors that name file, line and key path."""

from engine.config.loader import ConfigError, Problem, load_config, resolve_config_path
from engine.config.models import (
    BRIDGES,
    PULL_BRIDGES,
    PUSH_BRIDGES,
    Config,
    Link,
    PullSource,
    RedirectSource,
    ServerConfig,
    SnapshotConfig,
    SourceConfig,
    StoreConfig,
    StripeSource,
    WebhookSource,
    public_settings,
)

__all__ = [
    "BRIDGES",
    "PULL_BRIDGES",
    "PUSH_BRIDGES",
    "Config",
    "ConfigError",
    "Link",
    "Problem",
    "PullSource",
    "RedirectSource",
    "ServerConfig",
    "SnapshotConfig",
    "SourceConfig",
    "StoreConfig",
    "StripeSource",
    "WebhookSource",
    "load_config",
    "public_settings",
    "resolve_config_path",
]
