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
    # 3: pulled objects (latest state), sync cursors, the run log, and the ids a full read has seen so far.
    """
    CREATE TABLE records (
        source_id   VARCHAR NOT NULL,
        object_type VARCHAR NOT NULL,       -- singular: customer, subscription
        external_id VARCHAR NOT NULL,       -- the vendor's id
        updated_at  TIMESTAMPTZ NOT NULL,   -- when this version was current: the vendor's event time, else when read
        deleted     BOOLEAN NOT NULL,       -- deleted remotely; data keeps the last state seen
        data        JSON NOT NULL,
        synced_at   TIMESTAMPTZ NOT NULL,   -- when inlet last wrote this row (an unchanged object is not rewritten)
        PRIMARY KEY (source_id, object_type, external_id)
    );
    CREATE TABLE sync_state (
        source_id   VARCHAR NOT NULL,
        object_type VARCHAR NOT NULL,
        cursor      JSON,                   -- the stream's position, committed with the rows it covers
        updated_at  TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (source_id, object_type)
    );
    CREATE TABLE sync_runs (
        run_id          UUID NOT NULL,
        source_id       VARCHAR NOT NULL,
        object_type     VARCHAR NOT NULL,
        started_at      TIMESTAMPTZ NOT NULL,
        finished_at     TIMESTAMPTZ,
        status          VARCHAR NOT NULL,   -- running, succeeded, failed, skipped
        records_read    BIGINT NOT NULL,
        records_changed BIGINT NOT NULL,    -- created + updated + deleted
        error           VARCHAR,
        records_created BIGINT NOT NULL DEFAULT 0,
        records_updated BIGINT NOT NULL DEFAULT 0,
        records_deleted BIGINT NOT NULL DEFAULT 0,
        mode            VARCHAR,            -- how the run read: list, events, full refresh
        notes           VARCHAR,            -- what the run decided on its own (a fall back to a full read)
        requests        BIGINT NOT NULL DEFAULT 0
    );
    CREATE TABLE sync_seen (                -- ids met by a full read still in progress; emptied when it ends
        source_id   VARCHAR NOT NULL,
        object_type VARCHAR NOT NULL,
        scan_id     VARCHAR NOT NULL,
        external_id VARCHAR NOT NULL
    );
    """,
    # 4: identities: a user id (a tracking SDK's userId, or an alias's previousId) -> its profile.
    """
    CREATE TABLE identities (
        kind        VARCHAR NOT NULL,       -- what the identity is: user_id
        identity    VARCHAR NOT NULL,       -- global like session ids: one user id is one person on every source
        profile_id  UUID NOT NULL,
        source_id   VARCHAR NOT NULL,       -- the source that first sent it
        created_at  TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (kind, identity)
    );
    """,
    # 5: profiles from mappings: attributes with their provenance, merges, the two-way outbox and what inlet and
    # each remote record last agreed on (so inlet's own writes, read back, are recognised as echoes).
    """
    CREATE TABLE profile_attributes (
        profile_id  UUID NOT NULL,
        name        VARCHAR NOT NULL,
        value       JSON,
        source_id   VARCHAR NOT NULL,       -- provenance: the source whose record or event set it
        object_type VARCHAR NOT NULL,       -- the record's object type, or the event's type
        external_id VARCHAR,                -- the record's id; NULL when an event set it
        observed_at TIMESTAMPTZ NOT NULL,   -- when the value was current there (the remote's modification time)
        updated_at  TIMESTAMPTZ NOT NULL,   -- when inlet set it
        PRIMARY KEY (profile_id, name)
    );
    CREATE TABLE profile_merges (
        profile_id  UUID PRIMARY KEY,       -- a profile merged away: it keeps resolving to merged_into
        merged_into UUID NOT NULL,          -- always a live profile (chains are flattened)
        merged_at   TIMESTAMPTZ NOT NULL,
        reason      VARCHAR NOT NULL        -- the identity both turned out to hold
    );
    CREATE TABLE field_sync (
        source_id    VARCHAR NOT NULL,
        object_type  VARCHAR NOT NULL,
        external_id  VARCHAR NOT NULL,
        path         VARCHAR NOT NULL,      -- the remote field
        attribute    VARCHAR NOT NULL,
        remote_value JSON,                  -- the remote value inlet last read or wrote there
        local_value  JSON,                  -- the attribute value it stands for
        updated_at   TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (source_id, object_type, external_id, path)
    );
    CREATE TABLE writebacks (
        writeback_id     UUID PRIMARY KEY,
        source_id        VARCHAR NOT NULL,
        object_type      VARCHAR NOT NULL,
        external_id      VARCHAR NOT NULL,
        profile_id       UUID,
        changes          JSON NOT NULL,     -- remote path -> value to write
        attributes       JSON NOT NULL,     -- remote path -> the attribute it carries
        status           VARCHAR NOT NULL,  -- pending, sending, sent, rejected (by the vendor), failed (retries spent)
        attempts         INTEGER NOT NULL,
        next_attempt_at  TIMESTAMPTZ NOT NULL,
        last_error       VARCHAR,
        last_http_status INTEGER,
        created_at       TIMESTAMPTZ NOT NULL,
        updated_at       TIMESTAMPTZ NOT NULL,
        finished_at      TIMESTAMPTZ
    );
    CREATE TABLE writeback_attempts (
        writeback_id UUID NOT NULL,
        attempt      INTEGER NOT NULL,
        attempted_at TIMESTAMPTZ NOT NULL,
        outcome      VARCHAR NOT NULL,      -- sent, retry, rejected
        http_status  INTEGER,
        error        VARCHAR,
        changes      JSON NOT NULL
    );
    CREATE TABLE mapping_errors (
        noted_at    TIMESTAMPTZ NOT NULL,
        source_id   VARCHAR NOT NULL,
        object_type VARCHAR NOT NULL,
        external_id VARCHAR,
        attribute   VARCHAR,
        error       VARCHAR NOT NULL
    );
    CREATE VIEW profile_events AS       -- events under the profile they belong to now (merged ids resolved)
        SELECT coalesce(m.merged_into, e.profile_id) AS profile_id, e.profile_id AS stored_profile_id,
               e.event_id, e.source_id, e.event_type, e.occurred_at, e.received_at, e.session_id, e.properties,
               e.context
        FROM events e LEFT JOIN profile_merges m ON m.profile_id = e.profile_id
        WHERE e.profile_id IS NOT NULL;
    """,
    # 6: the JSON of pulled objects compressed with zstd instead of DuckDB's default choice (FSST for text like
    # this): a first sync of 100,000 Stripe customers spent ~40% less time committing and checkpointing, and the
    # file came out ~37% smaller (bench/pull.py). Tables are rebuilt: DuckDB sets compression at CREATE only.
    """
    CREATE TABLE records_v6 (
        source_id   VARCHAR NOT NULL,
        object_type VARCHAR NOT NULL,
        external_id VARCHAR NOT NULL,
        updated_at  TIMESTAMPTZ NOT NULL,
        deleted     BOOLEAN NOT NULL,
        data        JSON USING COMPRESSION zstd NOT NULL,
        synced_at   TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (source_id, object_type, external_id)
    );
    INSERT INTO records_v6 SELECT * FROM records;  -- in the stored order: DuckDB keeps insertion order
    DROP TABLE records;
    ALTER TABLE records_v6 RENAME TO records;
    CREATE TABLE events_v6 (
        event_id    UUID NOT NULL,
        source_id   VARCHAR NOT NULL,
        event_type  VARCHAR NOT NULL,
        occurred_at TIMESTAMPTZ NOT NULL,
        received_at TIMESTAMPTZ NOT NULL,
        profile_id  UUID,
        session_id  VARCHAR,
        properties  JSON USING COMPRESSION zstd NOT NULL,
        context     JSON NOT NULL
    );
    INSERT INTO events_v6 SELECT * FROM events;
    DROP TABLE events;
    ALTER TABLE events_v6 RENAME TO events;
    """,
    # 7: a rejection row may stand for many refused requests: a source over its rate limit gets one row per
    # reason and second, with the count, instead of a row per request (engine/policy/rollup.py).
    """
    ALTER TABLE rejections ADD COLUMN count INTEGER NOT NULL DEFAULT 1;
    """,
    # 8: hourly counts per source of events (and of those stored with schema violations) and of refusals, kept by
    # the transactions that store the rows (engine/store/rollups.py), so the console and /status read hours, not
    # every event. Filled here from what the store holds.
    """
    CREATE TABLE event_hours (
        source_id        VARCHAR NOT NULL,
        hour             TIMESTAMPTZ NOT NULL,  -- UTC hour of received_at
        events           BIGINT NOT NULL,
        last_received_at TIMESTAMPTZ NOT NULL,
        warned           BIGINT NOT NULL,       -- stored with context.schema_violations (warn mode)
        PRIMARY KEY (source_id, hour)
    );
    CREATE TABLE rejection_hours (
        source_id        VARCHAR NOT NULL,
        hour             TIMESTAMPTZ NOT NULL,
        reason           VARCHAR NOT NULL,
        requests         BIGINT NOT NULL,       -- sum(rejections.count)
        last_received_at TIMESTAMPTZ NOT NULL,
        PRIMARY KEY (source_id, hour, reason)
    );
    INSERT INTO event_hours
    SELECT source_id, to_timestamp((epoch_us(received_at) // 3600000000) * 3600), count(*), max(received_at),
           count(*) FILTER (WHERE contains(context, '"schema_violations"')
                            AND json_exists(context, '$.schema_violations'))
    FROM events GROUP BY ALL;
    INSERT INTO rejection_hours
    SELECT source_id, to_timestamp((epoch_us(received_at) // 3600000000) * 3600), reason, sum(count),
           max(received_at)
    FROM rejections WHERE source_id IS NOT NULL GROUP BY ALL;
    """,
    # 9: the lake (engine/lake/). `events.ingest_seq` numbers events in the order the store committed them (one
    # writer commits one transaction at a time, so a reader sees every number up to the highest it sees): a node's
    # export watermark. Existing events are numbered in their stored order. `store_info.store_id` tells this store
    # from another that took the same node name; `lake_rows` holds a digest of each row of the upserted tables as the
    # lake last took it, so an export sends exactly the rows that changed since.
    """
    CREATE SEQUENCE events_ingest_seq;
    ALTER TABLE events ADD COLUMN ingest_seq BIGINT DEFAULT nextval('events_ingest_seq');
    CREATE TABLE store_info (store_id UUID NOT NULL, created_at TIMESTAMPTZ NOT NULL);
    INSERT INTO store_info VALUES (uuid(), now());
    CREATE TABLE lake_rows (
        lake_table  VARCHAR NOT NULL,       -- the Iceberg table's UUID: a table made anew is sent everything again
        key         VARCHAR NOT NULL,       -- the row's key columns, joined
        digest      UBIGINT NOT NULL,       -- hash of the row as sent
        PRIMARY KEY (lake_table, key)
    );
    """,
    # 10: each sync run's answers that said "slow down" (429s, Shopify's THROTTLED), beside its requests, for the
    # console's sync history.
    """
    ALTER TABLE sync_runs ADD COLUMN rate_limited BIGINT NOT NULL DEFAULT 0;
    """,
)
