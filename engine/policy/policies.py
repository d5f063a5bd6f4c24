"""What each push source's requests are held to: its compiled event schemas and its rate limit's token bucket,
built from the config and rebuilt on reload (a source whose `rate_limit` did not change keeps its bucket, so a
reload neither refills nor empties it); the refusals counted per second; and counters since start."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from engine.config import Config, ConfigError, Problem, RateLimit
from engine.policy.bucket import TokenBucket
from engine.policy.rollup import RefusalRollup
from engine.policy.schemas import SourceSchemas, compile_schemas


@dataclass
class SourcePolicy:
    schemas: SourceSchemas | None
    limit: RateLimit | None
    bucket: TokenBucket | None


class Policies:
    """`clock` drives the buckets (monotonic seconds; tests move it by hand)."""

    def __init__(self, config: Config, rollup: RefusalRollup, clock: Callable[[], float] = time.monotonic):
        self.rollup, self.clock = rollup, clock
        self.sources: dict[str, SourcePolicy] = {}
        # (source id, what) -> how many since start: `refused` (schema), `warned` (stored with violations),
        # `throttled` (requests over the rate limit)
        self.counts: Counter[tuple[str, str]] = Counter()
        self.apply(config)

    def of(self, source_id: str) -> SourcePolicy | None:
        return self.sources.get(source_id)

    def apply(self, config: Config) -> None:
        """Take a (re)loaded config's schemas and limits."""
        sources = {}
        for source in config.sources:
            schemas, limit = getattr(source, "schemas", None), getattr(source, "rate_limit", None)
            if not isinstance(limit, RateLimit):
                limit = None  # a pull source's `rate_limit` paces its own requests to the vendor
            if schemas is None and limit is None:
                continue
            compiled = config.event_schemas.get(source.id) if schemas is not None else None
            if schemas is not None and compiled is None:  # a config made in code, not read by load_config
                compiled = _compile_inline(source.id, schemas)
            before = self.sources.get(source.id)
            bucket = before.bucket if before is not None and before.limit == limit else \
                TokenBucket(limit.per_second, limit.capacity, self.clock) if limit is not None else None
            sources[source.id] = SourcePolicy(compiled, limit, bucket)
        self.sources = sources

    async def close(self) -> None:
        await self.rollup.close()


def _compile_inline(source_id: str, schemas) -> SourceSchemas:
    problems: list[Problem] = []
    where = f"source {source_id}"

    def report(path, message):
        problems.append(Problem(where, ("schemas", "events", *path), message))

    def no_files(name, event_type):
        report((event_type,), f"schema file {name!r}: files are read by load_config, relative to the config file")

    compiled = compile_schemas(schemas.mode, schemas.allow_unknown, schemas.events, no_files, report)
    if problems:
        raise ConfigError(problems)
    return compiled
