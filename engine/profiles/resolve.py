"""Which profile each observation belongs to, from the identities it carries.

Identities are global (kind, value) pairs: an email, a phone, a vendor id that several objects share, a
tracking user id, and each record's own key. Observations that share an identity, directly or through the
store, belong to one profile. When an observation's identities lead to two profiles, they merge: the oldest
survives (profile ids are UUIDv7, so the smallest id is the oldest) and the others are merged into it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.kit.ids import new_id

Key = tuple[str, str]  # (kind, value)


def record_key(source_id: str, object_type: str, external_id: str) -> Key:
    return ("record", f"{source_id}/{object_type}/{external_id}")


def parse_record_key(value: str) -> tuple[str, str, str]:
    source_id, object_type, external_id = value.split("/", 2)  # vendor ids may hold slashes (gid://…)
    return source_id, object_type, external_id


@dataclass
class Resolution:
    profiles: list[str]  # per observation, its (surviving) profile
    created: list[str] = field(default_factory=list)  # new profiles
    merges: list[tuple[str, str, str]] = field(default_factory=list)  # (merged, into, reason)
    new_identities: list[tuple[str, str, str]] = field(default_factory=list)  # (kind, value, profile)
    new_identity_obs: list[int] = field(default_factory=list)  # the observation that brought each


class _Sets:
    def __init__(self) -> None:
        self.parent: dict = {}

    def find(self, x):
        parent = self.parent
        parent.setdefault(x, x)
        root = x
        while parent[root] != root:
            root = parent[root]
        while parent[x] != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, a, b) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[ra] = rb


def resolve(keys: list[list[Key]], own: list[str | None], known: dict[Key, str]) -> Resolution:
    """`keys[i]`: observation i's identities; `own[i]`: the profile it already has (an event's session or
    user), canonical; `known`: the store's (canonical) profile of each key it holds."""
    sets = _Sets()
    for i, obs_keys in enumerate(keys):
        node = ("o", i)
        sets.find(node)
        for key in obs_keys:
            sets.union(node, ("k", key))
            if key in known:
                sets.union(("k", key), ("p", known[key]))
        if own[i] is not None:
            sets.union(node, ("p", own[i]))
    members: dict = {}
    for node in list(sets.parent):
        members.setdefault(sets.find(node), []).append(node)
    out = Resolution(profiles=[""] * len(keys))
    for nodes in members.values():
        existing = sorted({n[1] for n in nodes if n[0] == "p"})
        if existing:
            survivor = existing[0]
        else:
            survivor = new_id()
            out.created.append(survivor)
        for merged in existing[1:]:
            out.merges.append((merged, survivor, _reason(nodes, merged, known)))
        for n in nodes:
            if n[0] == "o":
                out.profiles[n[1]] = survivor
    seen: set[Key] = set()
    for i, obs_keys in enumerate(keys):
        for key in obs_keys:
            if key not in known and key not in seen:
                seen.add(key)
                out.new_identities.append((key[0], key[1], out.profiles[i]))
                out.new_identity_obs.append(i)
    return out


def _reason(nodes: list, merged: str, known: dict[Key, str]) -> str:
    """An identity that tied `merged` to the others: one held by the merged profile that an observation of
    the group carries (else just the group's first identity)."""
    keys = [n[1] for n in nodes if n[0] == "k"]
    for key in keys:
        if known.get(key) == merged and key[0] != "record":
            return f"{key[0]}={key[1]}"
    for key in keys:
        if key[0] != "record" and key not in known:
            return f"{key[0]}={key[1]}"
    return f"{keys[0][0]}={keys[0][1]}" if keys else "session"
