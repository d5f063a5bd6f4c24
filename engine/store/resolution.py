"""How the spool thread turns a batch of items (events, refusals) into one spool record and an answer each:
idempotency keys seen before, sessions and user ids resolved to profiles (known ones from `Identity`, new ones
created here), the rows each table gets."""

from __future__ import annotations

from connectors.kit.ids import new_id
from engine.store.identity import Identity
from engine.store.items import EventIn, RejectionIn, Stored


def resolve_batch(identity: Identity, items: list) -> tuple[dict, list, dict, dict, dict]:
    """The spool record of a batch of events and refusals and each item's answer, plus the sessions, user ids and
    idempotency keys it creates. Idempotency keys seen before answer as their first carrier did."""
    answers: list[Stored | None] = [None] * len(items)
    events = [(i, e) for i, e in enumerate(items) if isinstance(e, EventIn)]
    keyed = {(e.source_id, e.idempotency_key) for _, e in events if e.idempotency_key is not None}
    known_keys = identity.keys.find(keyed) if keyed else {}
    new_keys: dict[tuple[str, str], tuple | None] = {}
    fresh: list[tuple[int, EventIn]] = []
    for i, e in events:
        key = (e.source_id, e.idempotency_key) if e.idempotency_key is not None else None
        if key is not None and key in known_keys:
            answers[i] = Stored(known_keys[key][0], e.source_id, *known_keys[key][1:], replayed=True)
        elif key is not None and key in new_keys:
            continue  # a repeat of a key first sent in this batch: answered below
        else:
            fresh.append((i, e))
            if key is not None:
                new_keys[key] = None  # filled below, once the profile is known

    wanted = {s for _, e in fresh for s in (e.session_id, e.previous_id) if s is not None}
    sessions = identity.sessions.find(wanted) if wanted else {}
    named = {u for _, e in fresh for u in (e.user_id, e.previous_id) if u is not None}
    users = identity.users.find(named) if named else {}
    new_sessions: dict[str, str] = {}
    new_users: dict[str, str] = {}
    record: dict[str, list] = {"ev": [], "se": [], "sl": [], "pr": [], "id": [], "ke": [], "rj": []}
    for i, e in fresh:
        profile_id = _profile(e, sessions, users, new_sessions, new_users, record)
        record["ev"].append([e.event_id, e.source_id, e.event_type, e.occurred_us, e.received_us, profile_id,
                             e.session_id, e.properties, e.context])
        answers[i] = Stored(e.event_id, e.source_id, e.event_type, profile_id, e.session_id)
        if e.idempotency_key is not None and new_keys[(e.source_id, e.idempotency_key)] is None:
            new_keys[(e.source_id, e.idempotency_key)] = (e.event_id, e.event_type, profile_id, e.session_id)
            record["ke"].append([e.source_id, e.idempotency_key, e.event_id, e.event_type, profile_id,
                                 e.session_id, e.received_us])
    for i, e in events:  # duplicates within this batch answer like the first carrier of their key
        if answers[i] is None:
            first = new_keys[(e.source_id, e.idempotency_key)]
            answers[i] = Stored(first[0], e.source_id, *first[1:], replayed=True)
    for r in items:
        if isinstance(r, RejectionIn):
            record["rj"].append([new_id(), r.source_id, r.received_us, r.method, r.path, r.status, r.reason,
                                 r.size, r.excerpt, r.context, r.count])
    return record, answers, new_sessions, new_users, new_keys


def _profile(e: EventIn, sessions: dict, users: dict, new_sessions: dict, new_users: dict, record: dict) -> str | None:
    """The event's profile: its user id's, else its alias's previous id's (a user id or a session id), else its
    session's, else a new one; None for an event with none of those ids. Ids seen for the first time are tied
    to that profile (in `sessions`/`users`, `new_*` and the record); ids already known keep their profile."""
    if e.session_id is None and e.user_id is None and e.previous_id is None:
        return None
    profile_id = (users.get(e.user_id) or users.get(e.previous_id) or sessions.get(e.previous_id)
                  or sessions.get(e.session_id))
    created = profile_id is None
    if created:
        profile_id = new_id()
    if e.session_id is not None and e.session_id not in sessions:
        sessions[e.session_id] = new_sessions[e.session_id] = profile_id
        record["se" if created else "sl"].append([e.session_id, profile_id, e.source_id, e.received_us])
        created = False  # an "se" session row brings its new profile
    if created:
        record["pr"].append([profile_id, e.received_us])
    for user_id in (e.user_id, e.previous_id):
        if user_id is not None and user_id not in users and not (user_id == e.previous_id and user_id in sessions):
            users[user_id] = new_users[user_id] = profile_id
            record["id"].append(["user_id", user_id, profile_id, e.source_id, e.received_us])
    return profile_id
