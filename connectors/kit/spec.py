"""What a vendor package exports to the rest of inlet: one `VendorSpec`. `connectors/registry.py` lists them;
the engine (config, sync, server, profiles) and the mappings loop over the registry and import no vendor package.

A vendor package provides:
- `settings`: its source settings, a `CloudAppSettings` model (its `bridge` literal, credentials, options; the
  engine adds the keys every source has: id, name, channel, enabled, mapping, schedule);
- `objects`: the plural API names users list in `objects:` and `--object`, each with its singular
  `records.object_type`;
- `connect`: the connector of one source (its streams and writer), given the source's settings;
- `verify_webhook` and `delivery_records`: a signed delivery checked (raising SignatureRejected) and turned into
  object versions by stream name; `webhook_headers`, the headers it signs with (for the API docs);
- `writable`: what a two-way or `out` mapping field may write, per object type;
- `default_mapping`: the mapping file `mapping: default` means;
- `source_objects`: for a bridge whose sources declare their own objects (rest), each source's objects.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from connectors.kit.model import Connector, RecordIn
from connectors.kit.settings import CloudAppSettings
from connectors.kit.writable import Writable


@dataclass(frozen=True)
class WebhookRequest:
    """What a signature check may need of a delivery's request: its method, the URI the vendor called (and may
    have signed), its headers (lower-case names) and raw body."""

    method: str
    uri: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class VendorSpec:
    bridge: str  # the `bridge:` of its sources
    title: str  # how people name it: Stripe, HubSpot, Shopify
    settings: type[CloudAppSettings]
    objects: Mapping[str, str]  # plural name -> records.object_type
    connect: Callable[[Any, httpx.AsyncBaseTransport | None], Connector]  # (source settings, transport)
    verify_webhook: Callable[[str, WebhookRequest], None]  # (secret, request); raises SignatureRejected
    delivery_records: Callable[[Any, Mapping[str, str], bytes], Awaitable[dict[str, list[RecordIn]]]]
    default_mapping: Path | None  # None: the bridge ships none (`mapping: default` is then an error)
    writable: Mapping[str, Writable] = field(default_factory=dict)  # object_type -> what may be written
    webhook_headers: Mapping[str, str] = field(default_factory=dict)  # header -> what it carries (for /docs)
    # the objects of one source, when each source declares its own (the rest bridge): source settings ->
    # plural name -> records.object_type; None: every source has `objects`
    source_objects: Callable[[Any], Mapping[str, str]] | None = None

    def object_type(self, name: str) -> str:
        return self.objects[name]

    def objects_of(self, source: Any) -> Mapping[str, str]:
        """Plural name -> records.object_type of the objects `source` may sync."""
        return self.objects if self.source_objects is None else self.source_objects(source)
