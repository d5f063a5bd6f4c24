"""Mapping records and events into profiles, inside the transaction that stores them.

For a batch of observations (changed records of a pull or a webhook delivery; events of a push):

1. resolve each to a profile through its identities (new profiles, merges; `resolve.py`);
2. take in the values of the fields it reads, by each field's conflict policy:
   - a remote value equal to what inlet and that record last agreed on (`field_sync`) is not a change: it
     is inlet's own write read back (its echo), or a value already taken in;
   - `remote_wins` always takes the value, `local_wins` only when the profile has none, and `newest` (the
     default) when the record's modification time is not older than the attribute's;
3. reconcile: every record tied to a touched profile whose mapping writes an attribute (two-way, out) and does
   not hold its value gets a write-back in the outbox, unless inlet already wrote (or is writing) that value
   there. The record an attribute's value came from is never written back its own value.

Convergence: a value written to a record is remembered in `field_sync` with the attribute value it stands
for, so reading it back changes nothing and causes no write; two two-way sources of one attribute stop after
one round.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import duckdb

from engine.profiles import outbox, tables
from engine.profiles.registry import Registry
from engine.profiles.resolve import Key, parse_record_key, record_key, resolve
from engine.profiles.tables import Attr, RecordRef, same_local
from mappings import MappingValueError, same_remote

log = logging.getLogger("inlet.profiles")


@dataclass(slots=True)
class Observation:
    source_id: str
    object_type: str  # a record's object type, or an event's type
    external_id: str | None  # None for an event
    data: dict
    rules: Any  # mappings.ObjectRules
    time_us: int  # when this version was current at the source
    profile_id: str | None = None  # an event's profile from its session or user id

    @property
    def ref(self) -> RecordRef | None:
        return None if self.external_id is None else (self.source_id, self.object_type, self.external_id)


@dataclass
class Outcome:
    profiles: list[str | None]  # per observation (None: no identity, no profile)
    changed_attributes: int = 0
    writebacks: int = 0
    merges: int = 0


def apply_observations(con: duckdb.DuckDBPyConnection, registry: Registry, observations: list[Observation],
                       now_us: int) -> Outcome:
    errors: list[tuple] = []
    keys: list[list[Key]] = []
    for obs in observations:
        obs_keys = list(obs.rules.identities_of(obs.data))
        if obs.ref is not None:
            obs_keys.append(record_key(*obs.ref))
        keys.append(obs_keys)
    own_ids = [o.profile_id for o in observations if o.profile_id is not None]
    own_live = tables.canonical(con, own_ids)
    own = [None if o.profile_id is None else own_live[o.profile_id] for o in observations]
    known = tables.known_identities(con, list(dict.fromkeys(k for obs_keys in keys for k in obs_keys)))
    # A record is a person only through the identities its mapping gives (a product gives none), or through
    # the profile it was tied to before (a customer whose email was removed): its own key alone makes none.
    mapped = [i for i, o in enumerate(observations)
              if own[i] is not None or len(keys[i]) > (o.ref is not None) or (keys[i] and keys[i][-1] in known)]
    if not mapped:
        return Outcome([None] * len(observations))
    res = resolve([keys[i] for i in mapped], [own[i] for i in mapped], known)
    profile_of: list[str | None] = [None] * len(observations)
    for j, i in enumerate(mapped):
        profile_of[i] = res.profiles[j]

    tables.create_profiles(con, res.created, now_us)
    merged_ids = [m for m, _, _ in res.merges]
    attrs = tables.load_attributes(con, sorted(set(res.profiles) | set(merged_ids)))
    no_attributes = not any(attrs.values())  # of the profiles every change below is to
    changed: dict[tuple[str, str], Attr] = {}
    for merged, into, _ in res.merges:  # the newest value of each attribute survives
        for name, attr in attrs.pop(merged, {}).items():
            mine = attrs[into].get(name)
            if mine is None or attr.observed_us > mine.observed_us:
                attrs[into][name] = attr
                changed[(into, name)] = attr
    tables.merge_profiles(con, res.merges, now_us)
    tables.add_identities(con, [(k, v, p, observations[mapped[res.new_identity_obs[n]]].source_id)
                                for n, (k, v, p) in enumerate(res.new_identities)], now_us)

    refs = [o.ref for o in observations if o.ref is not None]
    agreed = tables.load_field_sync(con, refs)
    agreed_new: dict[tuple[RecordRef, str], tuple[str, Any, Any]] = {}
    order = sorted(mapped, key=lambda i: observations[i].time_us)
    cancelled: dict[RecordRef, list[str]] = {}
    for i in order:
        obs, profile = observations[i], profile_of[i]
        for rule in obs.rules.fields:
            if not rule.reads:
                continue
            present, raw = rule.remote(obs.data)
            if not present:
                continue
            slot = (obs.ref, rule.path)
            last = agreed_new.get(slot, (None, *agreed[slot]) if slot in agreed else None)
            if obs.ref is not None and last is not None and same_remote(raw, last[1]):
                continue  # unchanged since inlet and this record last agreed (or inlet's own write read back)
            try:
                value = rule.to_local(raw, obs.data)
            except MappingValueError as exc:
                errors.append((obs.source_id, obs.object_type, obs.external_id, rule.attribute, str(exc)))
                continue
            current = attrs[profile].get(rule.attribute)
            if current is not None and same_local(current.value, value):
                if obs.ref is not None:
                    agreed_new[slot] = (rule.attribute, raw, value)
                continue
            if not _takes(rule.conflict, current, obs.time_us):
                continue  # the profile's value stands; reconcile writes it back if this field is written
            attr = Attr(value, obs.time_us, obs.source_id, obs.object_type, obs.external_id)
            attrs[profile][rule.attribute] = changed[(profile, rule.attribute)] = attr
            if obs.ref is not None:
                agreed_new[slot] = (rule.attribute, raw, value)
                if rule.writes:  # the remote's newer value won: a pending write of the field is stale
                    cancelled.setdefault(obs.ref, []).append(rule.path)

    outbox.cancel(con, cancelled, now_us)
    tables.save_attributes(con, changed, merged_ids, now_us, fresh=no_attributes)
    touched = sorted({p for p in res.profiles})
    outcome = Outcome(profile_of, changed_attributes=len(changed), merges=len(res.merges))
    agreed_out: dict = {}
    if registry.writes_anything:
        fresh = {o.ref: o.data for o in observations if o.ref is not None}
        wanted, agreed_out = _reconcile(con, registry, touched, attrs, fresh, agreed, agreed_new, errors)
        agreed_new.update(agreed_out)
        owners = {ref: p for ref, p in _owners(con, touched)}
        outcome.writebacks = outbox.enqueue(con, wanted, owners, now_us)
    # `agreed` holds every row there is of the observed records: without one (and none for other records) every
    # row is new
    tables.save_field_sync(con, agreed_new, now_us, fresh=not agreed and not agreed_out)
    tables.refresh_profiles(con, touched, now_us)
    tables.record_mapping_errors(con, errors, now_us)
    return outcome


def _takes(conflict: str, current: Attr | None, time_us: int) -> bool:
    if current is None or conflict == "remote_wins":
        return True
    if conflict == "local_wins":
        return False
    return time_us >= current.observed_us  # newest


def _owners(con, profiles: list[str]) -> list[tuple[RecordRef, str]]:
    return [(parse_record_key(value), p) for p, value in tables.linked_records(con, profiles)]


def _reconcile(con, registry: Registry, profiles: list[str], attrs: dict[str, dict[str, Attr]],
               fresh: dict[RecordRef, dict], agreed: dict, agreed_new: dict, errors: list) -> tuple[dict, dict]:
    """The write-backs that make every written field of the profiles' records hold the attribute's value."""
    linked = [(ref, p) for ref, p in _owners(con, profiles) if registry.writes(ref[0], ref[1])]
    if not linked:
        return {}, {}
    missing = [ref for ref, _ in linked if ref not in fresh]
    stored = tables.record_data(con, missing)
    others = tables.load_field_sync(con, [ref for ref in missing if ref in stored])
    wanted: dict[RecordRef, dict[str, tuple[str, Any]]] = {}
    agreed_out: dict[tuple[RecordRef, str], tuple[str, Any, Any]] = {}
    for ref, profile in linked:
        data = fresh.get(ref, stored.get(ref))
        if data is None:
            continue  # deleted remotely
        values = {name: a.value for name, a in attrs[profile].items()}
        for rule in registry.writes(ref[0], ref[1]):
            attr = attrs[profile].get(rule.attribute)
            if attr is None or (attr.source_id, attr.object_type, attr.external_id) == ref:
                continue  # nothing to write, or the value came from this very record
            slot = (ref, rule.path)
            last = agreed_new.get(slot) or agreed_out.get(slot)
            if last is None and slot in agreed:
                last = (rule.attribute, *agreed[slot])
            elif last is None and slot in others:
                last = (rule.attribute, *others[slot])
            if last is not None and same_local(last[2], attr.value):
                continue  # inlet wrote (or is writing) this value there, or read it from there
            try:
                remote = rule.to_remote(attr.value, values)
            except MappingValueError as exc:
                errors.append((ref[0], ref[1], ref[2], rule.attribute, str(exc)))
                continue
            present, raw = rule.remote(data)
            # the remote value stays the one last read there until the write lands (outbox.finish): a pull
            # before then sees no remote change, whatever the record's modification time says
            agreed_out[slot] = (rule.attribute, raw if present else None, attr.value)
            if present and same_remote(raw, remote):
                continue  # it already holds the value
            wanted.setdefault(ref, {})[rule.path] = (rule.attribute, remote)
    return wanted, agreed_out
