"""inlet's configuration: one YAML file, pydantic models, errors that name file, line and key path."""

from engine.config.loader import ConfigError, Problem, load_config, resolve_config_path
from engine.config.models import (
    BRIDGES,
    PULL_BRIDGES,
    PUSH_BRIDGES,
    Config,
    HubSpotSource,
    Link,
    PullSource,
    RedirectSource,
    ServerConfig,
    ShopifySource,
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
    "HubSpotSource",
    "Link",
    "Problem",
    "PullSource",
    "RedirectSource",
    "ServerConfig",
    "ShopifySource",
    "SnapshotConfig",
    "SourceConfig",
    "StoreConfig",
    "StripeSource",
    "WebhookSource",
    "load_config",
    "public_settings",
    "resolve_config_path",
]
