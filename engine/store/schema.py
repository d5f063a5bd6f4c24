"""The store's schema as numbered migrations. Version N is the state after MIGRATIONS[N-1] ran.

Add a migration to change the schema; never edit one that has shipped. `schema_version` records each
applied version, so opening an older store upgrades it and a newer one is refused.
"""

MIGRATIONS: tuple[str, ...] = (
    # 1: sources, the event log, profiles and sessions, idempotency keys, rejections.
    """
    CREATE TABLE sources (
        source_id   VARCHAR PRIMARY KEY,
        name        VARCHAR NOT NULL,
        description VARCHAR NOT NULL,
        channel     VARCHAR NOT NULL,
        bridge      VARCHAR NOT NULL,
        enabled     BOOLEAN NOT NULL,
        settings    JSON NOT NULL,          -- the source's config without secrets
        updated_at  TIMESTAMPTZ NOT NULL,   -- when `inlet serve` last mirrored it from the config
        removed_at  TIMESTAMPTZ             -- set when the source left the config; its events stay
    );
    CREATE TABLE events (
        event_id    UUID NOT NULL,          -- UUIDv7: sorts by time
        source_id   VARCHAR NOT NULL,
        event_type  VARCHAR NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL,
        received_at TIMESTAMPTZ NOT NULL,
        profile_id  UUID,
        session_id  VARCHAR,
        properties  JSON NOT NULL,
        context     JSON NOT NULL
    );
    CREATE TABLE profiles (
        profile_id  UUID PRIMARY KEY,
        attributes  JSON NOT NULL,
        created_at  TIMESTAMPTZ NOT NULL,
        updated_at  TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE sessions (
        session_id  VARCHAR PRIMARY KEY,    -- global: one visitor's session id ties every source's events together
        profile_id  UUID NOT NULL,
        source_id   VARCHAR NOT NULL,       -- the source that first sent it
        created_at  TIMESTAMPTZ NOT NULL
    );
    CREATE TABLE idempotency_keys (
        source_id   VARCHAR NOT NULL,
        key         VARCHAR NOT NULL,       -- the Idempotency-Key header or the event_id property
        event_id    UUID NOT NULL,          -- with the rest of the first answer, repeated to a resend
        event_type  VARCHAR NOT NULL,
        profile_id  UUID,
        session_id  VARCHAR,
        created_at  TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (source_id, key)
    );
    CREATE TABLE rejections (
        rejection_id UUID NOT NULL,
        source_id    VARCHAR,               -- as the request named it; may name no configured source
        received_at  TIMESTAMPTZ NOT NULL,
        method       VARCHAR NOT NULL,
        path         VARCHAR NOT NULL,
        status       INTEGER NOT NULL,
        reason       VARCHAR NOT NULL,
        size         BIGINT NOT NULL,       -- body bytes received (or announced, when refused unread)
        excerpt      VARCHAR NOT NULL,      -- the first bytes of the body, for debugging senders
        context      JSON NOT NULL
    );
    """,
    # 2: the highest spool record the store has taken in (committed with the rows it brought).
    """
    CREATE TABLE ingest_state (seq BIGINT NOT NULL);
    INSERT INTO ingest_state VALUES (0);
    """,
)
