"""Shopify's API search syntax, for the `query:` argument of connections.

Grammar (shopify.dev "Shopify API search syntax"): terms separated by whitespace, optionally joined by the
connectives `AND` / `OR` (AND is implied between terms), `NOT` or a leading `-` negates a term, parentheses group.
A term is `field:value`, `field:<value`, `field:<=value`, `field:>value`, `field:>=value` or bare text. Values
may be quoted with single or double quotes (date values with a time must be, per the docs; the sandbox also takes
them bare). `field:value*` is a prefix match.

A term on a field the connection does not support is dropped from the query (the rest still filters) and reported
in the response's `extensions.search[].warnings` as `{"field", "message": "Invalid search field for this query.",
"code": "invalid_field"}`: what Shopify answers (observed in captured responses; the docs only say the term is
ignored).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Predicate = Callable[[dict], bool]
DAY = 86_400


class SearchError(Exception):
    """A value Shopify refuses outright (a malformed timestamp): a GraphQL error, not a warning."""


@dataclass(frozen=True)
class Term:
    field: str | None  # None: free text
    op: str  # ":" (equals / matches), "<", "<=", ">", ">="
    value: str


@dataclass(frozen=True)
class Group:
    kind: str  # "and" | "or" | "not"
    parts: tuple


@dataclass
class Compiled:
    predicate: Predicate | None  # None: everything matches
    warnings: list[dict] = field(default_factory=list)
    bounds: dict[str, list] = field(default_factory=dict)  # field -> [low, low_inclusive, high, high_inclusive]


# -- parsing ---------------------------------------------------------------------------------------------------

def tokenize(text: str) -> list[Any]:
    """Terms, "(" / ")", and the connectives "AND" / "OR" / "NOT"."""
    tokens: list[Any] = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "()":
            tokens.append(c)
            i += 1
            continue
        negate = False
        if c == "-" and i + 1 < n and not text[i + 1].isspace():
            if text[i + 1] == "(":  # -( … ) negates the group
                tokens.append("NOT")
                i += 1
                continue
            negate = True
            i += 1
        start = i
        while i < n and not text[i].isspace() and text[i] not in "():'\"":
            i += 1
        name = text[start:i]
        if i < n and text[i] == ":" and name:
            i += 1
            op = ":"
            for candidate in ("<=", ">=", "<", ">"):
                if text.startswith(candidate, i):
                    op, i = candidate, i + len(candidate)
                    break
            value, i = _value(text, i)
            term: Any = Term(name.lower(), op, value)
        elif not name and i < n and text[i] in "'\"":
            value, i = _value(text, i)
            term = Term(None, ":", value)
        elif name in ("AND", "OR", "NOT") and not negate:
            tokens.append(name)
            continue
        else:
            if i < n and text[i] in ":'\"":  # a stray quote or colon: take it as text
                i += 1
            term = Term(None, ":", name)
        tokens.append(Group("not", (term,)) if negate else term)
    return tokens


def _value(text: str, i: int) -> tuple[str, int]:
    n = len(text)
    if i < n and text[i] in "'\"":
        quote = text[i]
        end = text.find(quote, i + 1)
        if end < 0:
            return text[i + 1:], n
        return text[i + 1:end], end + 1
    start = i
    while i < n and not text[i].isspace() and text[i] not in "()":
        i += 1
    return text[start:i], i


def parse(text: str | None) -> Any:
    """The query as nested `Group`s and `Term`s, or None for an empty query."""
    if not text or not text.strip():
        return None
    tokens = tokenize(text)
    pos = 0

    def peek() -> Any:
        return tokens[pos] if pos < len(tokens) else None

    def parse_or() -> Any:
        nonlocal pos
        parts = [parse_and()]
        while peek() == "OR":
            pos += 1
            parts.append(parse_and())
        parts = [p for p in parts if p is not None]
        return None if not parts else parts[0] if len(parts) == 1 else Group("or", tuple(parts))

    def parse_and() -> Any:
        nonlocal pos
        parts = []
        while True:
            token = peek()
            if token is None or token in (")", "OR"):
                break
            if token == "AND":
                pos += 1
                continue
            parts.append(parse_unary())
        parts = [p for p in parts if p is not None]
        return None if not parts else parts[0] if len(parts) == 1 else Group("and", tuple(parts))

    def parse_unary() -> Any:
        nonlocal pos
        token = peek()
        pos += 1
        if token == "NOT":
            inner = parse_unary()
            return None if inner is None else Group("not", (inner,))
        if token == "(":
            inner = parse_or()
            if peek() == ")":
                pos += 1
            return inner
        return token

    result = None
    parts = []
    while pos < len(tokens):
        parts.append(parse_or())
        if peek() == ")":  # an unbalanced ")": skip it
            pos += 1
    parts = [p for p in parts if p is not None]
    if parts:
        result = parts[0] if len(parts) == 1 else Group("and", tuple(parts))
    return result


# -- values ----------------------------------------------------------------------------------------------------

def parse_time(value: str, name: str) -> tuple[float, float]:
    """A timestamp as the (start, end) seconds it covers: a date covers its whole day (UTC, the sandbox shop's
    time zone); a time covers its second. Shopify refuses an unreadable one."""
    text = value.strip()
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            start = dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp()
            return start, start + DAY
        moment = dt.datetime.fromisoformat(text.replace(" ", "T", 1))
    except ValueError:
        raise SearchError(f"Invalid timestamp for query filter `{name}`.") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    t = moment.timestamp()
    return t, (int(t) + 1 if t == int(t) else t)


def _number(value: str) -> float | None:
    try:
        return float(value)
    except ValueError:
        return None


def _compare(op: str, actual: Any, low: Any, high: Any | None = None) -> bool:
    """`actual` against a term value; for times `low`/`high` is the span the value covers."""
    if actual is None:
        return False
    if op == ":":
        return low <= actual < high if high is not None else actual == low
    if op == "<":
        return actual < low
    if op == "<=":
        return actual < high if high is not None else actual <= low
    if op == ">":
        return actual >= high if high is not None else actual > low
    return actual >= low  # ">="


# -- fields ----------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Field:
    """One searchable field: its kind and how to read it from an object.

    kinds: "time" (epoch seconds), "number", "id" (number, or a GID in the query), "text" (case-insensitive
    equality, `*` suffix for a prefix), "words" (case-insensitive substring), "tags" (any tag equal), "enum"
    (case-insensitive, comma-separated alternatives), "bool", "custom" (`read(obj, value) -> bool`)."""

    kind: str
    read: Callable[..., Any]


def _text_match(actual: Any, wanted: str) -> bool:
    if actual is None:
        return False
    actual = str(actual).lower()
    wanted = wanted.lower()
    if wanted.endswith("*"):
        return actual.startswith(wanted[:-1])
    return actual == wanted


def _term_predicate(term: Term, spec: Field) -> Predicate:
    read, op, value = spec.read, term.op, term.value
    kind = spec.kind
    if kind == "time":
        low, high = parse_time(value, term.field or "")
        return lambda obj: _compare(op, read(obj), low, high)
    if kind in ("number", "id"):
        if kind == "id" and value.startswith("gid://"):
            value = value.rsplit("/", 1)[-1]
        number = _number(value)
        if number is None:
            return lambda obj: False
        return lambda obj: _compare(op, read(obj), number)
    if kind == "bool":
        wanted = value.lower() == "true"
        return lambda obj: bool(read(obj)) == wanted
    if kind == "tags":
        wanted = value.lower()
        return lambda obj: any(_text_match(tag, wanted) for tag in read(obj))
    if kind == "enum":
        options = {v.strip().lower() for v in value.split(",") if v.strip()}
        return lambda obj: (str(read(obj) or "")).lower() in options
    if kind == "words":
        wanted = value.lower().rstrip("*")
        return lambda obj: wanted in str(read(obj) or "").lower()
    if kind == "custom":
        return lambda obj: read(obj, value)
    return lambda obj: _text_match(read(obj), value)  # "text"


def compile_query(text: str | None, fields: dict[str, Field], default_text: Callable[[dict], str]) -> Compiled:
    """Compile a query for a connection with the given searchable `fields`; `default_text` gives the text a bare
    term is looked for in (case-insensitive substring)."""
    tree = parse(text)
    warnings: list[dict] = []

    def build(node: Any) -> Predicate | None:
        if isinstance(node, Term):
            if node.field is None:
                wanted = node.value.lower().rstrip("*")
                if not wanted:
                    return None
                return lambda obj: wanted in default_text(obj).lower()
            spec = fields.get(node.field)
            if spec is None:
                warnings.append({"field": node.field, "message": "Invalid search field for this query.",
                                 "code": "invalid_field"})
                return None
            return _term_predicate(node, spec)
        parts = [p for p in (build(part) for part in node.parts) if p is not None]
        if not parts:
            return None
        if node.kind == "not":
            inner = parts[0]
            return lambda obj: not inner(obj)
        if len(parts) == 1:
            return parts[0]
        if node.kind == "and":
            return lambda obj: all(p(obj) for p in parts)
        return lambda obj: any(p(obj) for p in parts)

    predicate = build(tree) if tree is not None else None
    return Compiled(predicate, warnings, _bounds(tree, fields))


def _bounds(tree: Any, fields: dict[str, Field]) -> dict[str, list]:
    """Ranges on time and id fields that every match must satisfy (terms ANDed at the top level), so a
    connection sorted on that field can bisect to the range instead of scanning."""
    terms = [tree] if isinstance(tree, Term) else list(tree.parts) if isinstance(tree, Group) and \
        tree.kind == "and" else []
    out: dict[str, list] = {}
    for term in terms:
        if not isinstance(term, Term) or term.field is None:
            continue
        spec = fields.get(term.field)
        if spec is None or spec.kind not in ("time", "id"):
            continue
        if spec.kind == "time":
            low, high = parse_time(term.value, term.field)
        else:
            number = _number(term.value.rsplit("/", 1)[-1])
            if number is None:
                continue
            low = high = number
        span = out.setdefault(term.field, [None, True, None, True])
        op = term.op
        if op in (">", ">=", ":"):
            start = high if (op == ">" and spec.kind == "time") else low
            inclusive = not (op == ">" and spec.kind == "id")
            if span[0] is None or start > span[0]:
                span[0], span[1] = start, inclusive
        if op in ("<", "<=", ":"):
            end = high if spec.kind == "time" and op in ("<=", ":") else low
            inclusive = spec.kind == "id" and op in ("<=", ":")
            if span[2] is None or end < span[2]:
                span[2], span[3] = end, inclusive
    return out
