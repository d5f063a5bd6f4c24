"""Per-source ingestion policy for push sources: event schemas (engine/policy/schemas.py), the rate limit's token
bucket (engine/policy/bucket.py), refusals counted per source, reason and second (engine/policy/rollup.py) and
what a source's requests are held to, together (engine/policy/policies.py). Nothing here knows HTTP; the routes
apply it through engine/server/admission.py."""
