"""Compiling a search request's filter groups, free-text query and sort into functions over records
(VENDOR_FACTS 1.3): groups ORed, filters ANDed; numbers and instants compare as numbers, text case-insensitively.
"""

from __future__ import annotations

from collections.abc import Callable
from operator import itemgetter

from sandbox.hubspot.errors import validation
from sandbox.hubspot.properties import DATE, DATETIME, NUMBER
from sandbox.hubspot.records import Rec, Store, instant

# The caps the current docs are recalled with (VENDOR_FACTS 1.3 and 6: 5 groups, 6 per group, 18 in all).
MAX_GROUPS, MAX_PER_GROUP, MAX_FILTERS = 5, 6, 18
OPERATORS = ("EQ", "NEQ", "LT", "LTE", "GT", "GTE", "BETWEEN", "IN", "NOT_IN", "HAS_PROPERTY", "NOT_HAS_PROPERTY",
             "CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN")
_FILTER_CLASS = "com.hubspot.inbounddb.publicobject.core.v3.search.Filter"

Getter = Callable[[Rec], object]


def getter(store: Store, name: str) -> tuple[str, Getter]:
    """How to read a property for comparison: (type, getter). Numbers and instants compare as numbers (ISO or
    epoch-ms alike), everything else as lower-cased text. Unknown properties read as null (HubSpot answers a
    filter on a misspelt property with no results rather than an error [OBSERVED-ish])."""
    if name == "hs_object_id":
        return NUMBER, lambda rec: rec.id
    if name == "createdate":
        return DATETIME, lambda rec: rec.created_ms
    if name == store.kind.lastmod:
        return DATETIME, lambda rec: rec.updated_ms
    prop = store.schema.props.get(name)
    kind = prop.type if prop is not None else "string"
    if kind == NUMBER:
        return kind, lambda rec: number(rec.props.get(name))
    if kind in (DATETIME, DATE):
        return kind, lambda rec: instant(rec.props.get(name))
    return kind, lambda rec: _text(rec.props.get(name))


def number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _text(value: str | None) -> str | None:
    return None if value is None else value.lower()


def _operand(kind: str, value: object, name: str) -> object:
    """A filter value converted to the property's comparison type; 400 when it cannot be."""
    if kind == NUMBER:
        parsed = number(str(value)) if value is not None and not isinstance(value, bool) else None
    elif kind in (DATETIME, DATE):
        parsed = instant(value)
    elif isinstance(value, bool):
        parsed = "true" if value else "false"
    else:
        parsed = None if value is None else str(value).lower()
    if parsed is None:
        raise validation(f"Invalid input JSON on line 1, column 1: {value!r} is not a valid {kind} value for the "
                         f"filter on {name}")  # [UNCONFIRMED]
    return parsed


def _tokens(text: str) -> list[str]:
    return "".join(c if c.isalnum() else " " for c in text).split()


def _filter(store: Store, spec: object) -> Callable[[Rec], bool]:
    if not isinstance(spec, dict) or not isinstance(spec.get("propertyName"), str):
        raise validation(f"Invalid input JSON on line 1, column 1: Cannot construct instance of `{_FILTER_CLASS}`, "
                         "problem: propertyName is required")
    name, op = spec["propertyName"], spec.get("operator", "EQ")
    if op not in OPERATORS:
        raise validation(f"Invalid input JSON on line 1, column 1: Cannot deserialize value of type "
                         f"`FilterOperatorType` from String \"{op}\": not one of the values accepted for Enum "
                         f"class: [{', '.join(OPERATORS)}]")
    kind, get = getter(store, name)
    if op == "HAS_PROPERTY":
        return lambda rec: get(rec) is not None
    if op == "NOT_HAS_PROPERTY":
        return lambda rec: get(rec) is None
    if op in ("IN", "NOT_IN"):
        items = spec.get("values")
        if not isinstance(items, list):
            raise validation(f"Invalid input JSON on line 1, column 1: Cannot construct instance of `{_FILTER_CLASS}`,"
                             f" problem: operator {op} requires values")
        allowed = {_operand(kind, v, name) for v in items}
        if op == "IN":
            return lambda rec: get(rec) in allowed
        return lambda rec: get(rec) not in allowed
    if op == "BETWEEN" and spec.get("highValue") is None:
        # Observed wording (hubspot-api-nodejs #128).
        raise validation(f"Invalid input JSON on line 1, column 1: Cannot construct instance of `{_FILTER_CLASS}`, "
                         "problem: operator BETWEEN requires a highValue")
    if spec.get("value") is None:
        raise validation(f"Invalid input JSON on line 1, column 1: Cannot construct instance of `{_FILTER_CLASS}`, "
                         f"problem: operator {op} requires a value")
    if op in ("CONTAINS_TOKEN", "NOT_CONTAINS_TOKEN"):
        want = str(spec["value"]).lower().strip("*")
        wildcard = str(spec["value"]).endswith("*")

        def contains(rec: Rec) -> bool:
            text = rec.props.get(name)
            if text is None:
                return False
            return any(t == want or (wildcard and t.startswith(want)) for t in _tokens(text.lower()))

        return contains if op == "CONTAINS_TOKEN" else (lambda rec: not contains(rec))
    x = _operand(kind, spec["value"], name)
    if op == "EQ":
        return lambda rec: get(rec) == x
    if op == "NEQ":  # a record without the property is "not equal" too [UNCONFIRMED]
        return lambda rec: get(rec) != x
    if op == "BETWEEN":
        hi = _operand(kind, spec["highValue"], name)
        return lambda rec: (v := get(rec)) is not None and x <= v <= hi  # type: ignore[operator]
    compare = {"LT": lambda v: v < x, "LTE": lambda v: v <= x, "GT": lambda v: v > x, "GTE": lambda v: v >= x}[op]
    return lambda rec: (v := get(rec)) is not None and compare(v)


def compile_filters(store: Store, groups: object, query: object) -> Callable[[Rec], bool]:
    """Groups ORed, filters in a group ANDed (VENDOR_FACTS 1.3), then the free-text query."""
    if groups is None:
        groups = []
    if not isinstance(groups, list) or not all(isinstance(g, dict) for g in groups):
        raise validation("Invalid input JSON on line 1, column 1: `filterGroups` must be a list of objects")
    filters = [g.get("filters") or [] for g in groups]
    total = sum(len(f) for f in filters)
    # Wordings of the three cap errors [UNCONFIRMED]; the caps are in VENDOR_FACTS 1.3.
    if len(groups) > MAX_GROUPS:
        raise validation(f"Too many filter groups: {len(groups)}. The maximum is {MAX_GROUPS}.")
    if any(len(f) > MAX_PER_GROUP for f in filters):
        raise validation(f"Too many filters in a filter group. The maximum is {MAX_PER_GROUP} per group.")
    if total > MAX_FILTERS:
        raise validation(f"Too many filters: {total}. The maximum is {MAX_FILTERS} across all filter groups.")
    compiled = [[_filter(store, spec) for spec in group] for group in filters if group]
    text_match = _query(store, query)
    if not compiled:
        return text_match or (lambda rec: True)

    def match(rec: Rec) -> bool:
        for group in compiled:
            for test in group:
                if not test(rec):
                    break
            else:
                return text_match is None or text_match(rec)
        return False

    return match


def _query(store: Store, query: object) -> Callable[[Rec], bool] | None:
    """`query`: each word must start a word of one of the type's searchable properties (HubSpot searches default
    text properties by token prefix; the exact rules are undocumented [UNCONFIRMED])."""
    if query is None or query == "":
        return None
    words = _tokens(str(query)[:3000].lower())
    if not words:
        return None
    fields = store.kind.searchable

    def match(rec: Rec) -> bool:
        tokens = [t for f in fields for t in _tokens((rec.props.get(f) or "").lower())]
        return all(any(t.startswith(w) for t in tokens) for w in words)

    return match


def compile_sort(store: Store, sorts: object) -> tuple[Callable[[list[Rec]], list[Rec]], Callable[[bool], bool]]:
    """One sort (later ones are ignored: only one is honoured); ties and the unsorted order are by id ascending,
    records without the property last in either direction [UNCONFIRMED: HubSpot does not document either].
    Also returns whether (last-modified, id) order is that order, given whether all results share one ms."""
    if not sorts:
        return (lambda recs: recs), (lambda one_ms: one_ms)
    if not isinstance(sorts, list):
        raise validation("Invalid input JSON on line 1, column 1: `sorts` must be a list")
    first = sorts[0]
    if isinstance(first, str):  # the spec types sorts as strings: "createdate" or "-createdate"
        name, descending = first.lstrip("-"), first.startswith("-")
    elif isinstance(first, dict) and isinstance(first.get("propertyName"), str):
        direction = first.get("direction", "ASCENDING")
        if direction not in ("ASCENDING", "DESCENDING"):
            raise validation(f"Invalid input JSON on line 1, column 1: Cannot deserialize value of type "
                             f"`SortDirection` from String \"{direction}\": not one of the values accepted for Enum "
                             "class: [ASCENDING, DESCENDING]")
        name, descending = first["propertyName"], direction == "DESCENDING"
    else:
        raise validation("Invalid input JSON on line 1, column 1: a sort needs a propertyName")
    _, get = getter(store, name)
    first_key = itemgetter(0)
    lastmod = name == store.kind.lastmod

    def natural(one_ms: bool) -> bool:
        return (lastmod and (not descending or one_ms)) or (one_ms and name == "hs_object_id" and not descending)


    def order(recs: list[Rec]) -> list[Rec]:
        keyed = [(get(rec), rec) for rec in recs]  # recs arrive in id order; sorting is stable
        valued = [k for k in keyed if k[0] is not None]
        valued.sort(key=first_key, reverse=descending)  # reverse keeps equal keys in their (id) order
        return [rec for _, rec in valued] + [rec for value, rec in keyed if value is None]

    return order, natural
