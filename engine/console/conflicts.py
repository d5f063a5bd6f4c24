"""A profile's conflicts: its linked records whose mapping gives an attribute another value than the profile holds
(the attribute's conflict policy chose another source's value, or the record changed and lost). Worked out from the
records as stored, through the same compiled mappings a sync applies, so what the page shows is what the records
say now."""

from __future__ import annotations

import orjson

from engine.profiles.tables import same_local
from mappings import MappingValueError

SHOWN = 20


def conflicts(mappings: dict, records: list[dict], attributes: list[dict]) -> list[dict]:
    """`records`: the profile's linked records (source_id, object_type, external_id, updated_at, deleted, data as
    JSON text), newest first; `attributes`: its attribute rows (name, value as JSON text, source_id, ...)."""
    held = {a["name"]: a for a in attributes}
    found: list[dict] = []
    for record in records:
        mapping = mappings.get(record["source_id"])
        rules = mapping.for_object(record["object_type"]) if mapping is not None else None
        if rules is None or record["deleted"] or record.get("data") is None:
            continue
        data = orjson.loads(record["data"])
        for rule in rules.fields:
            attribute = held.get(rule.attribute)
            if not rule.reads or attribute is None:
                continue
            present, raw = rule.remote(data)
            if not present:
                continue
            try:
                theirs = rule.to_local(raw, data)
            except MappingValueError:
                continue  # not a value the mapping can take: mapping_errors has it
            ours = orjson.loads(attribute["value"]) if attribute["value"] is not None else None
            if theirs is None or same_local(theirs, ours):
                continue
            found.append({"attribute": rule.attribute, "source_id": record["source_id"],
                          "object_type": record["object_type"], "external_id": record["external_id"],
                          "updated_at": record["updated_at"], "theirs": orjson.dumps(theirs).decode(),
                          "ours": attribute["value"], "our_source": attribute["source_id"]})
            if len(found) >= SHOWN:
                return found
    return found
