"""Event schemas: a JSON Schema (draft 2020-12 unless the schema's `$schema` names another draft) per event type
of a push source, checked and compiled once when the config is loaded, then applied to each event's properties.

Two libraries, each where it is best: `jsonschema` checks a schema when the config is loaded (every mistake with
its key path in the schema), and `jsonschema_rs` (compiled, Rust) validates the events: ~1 us an event where
`jsonschema` takes ~10 us, which was a tenth of a collect request's whole cost (BENCHMARKS.md).

A schema's `$ref`s point inside the schema itself (`#/$defs/...`, anchors): nothing is ever fetched, and a
reference that leads nowhere is a config problem. `format` is asserted (`email`, `date`, `date-time`, `uuid`,
`ipv4`...; unknown formats are ignored).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import islice
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match
from jsonschema.validators import validator_for
from referencing import Registry
from referencing.exceptions import Unresolvable
from referencing.jsonschema import specification_with

log = logging.getLogger("inlet.policy")

KeyPath = tuple[str | int, ...]
Report = Callable[[KeyPath, str], None]
MAX_VIOLATIONS = 10  # the first ones an answer, a rejection or an event's context shows
MAX_MESSAGE = 300  # characters of one violation's message (jsonschema quotes the offending value)
MAX_POINTER = 1024  # characters of one violation's pointer
_DATA_KEYWORDS = frozenset({"const", "enum", "default", "examples"})  # their values are data, not schemas


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a source's schemas say of one event: `refuse` in enforce mode; `reason` is `schema_violation`, or
    `unknown_event_type` for a type with no schema on a source that takes no others."""

    refuse: bool
    reason: str
    message: str
    violations: list[dict]  # {"pointer": JSON pointer into the properties, "message": ...}, the first ones


class SourceSchemas:
    """One source's compiled schemas and mode."""

    def __init__(self, mode: str, allow_unknown: bool, validators: dict[str, jsonschema_rs.Validator]):
        self.mode, self.allow_unknown, self.validators = mode, allow_unknown, validators

    def check(self, event_type: str, properties: Any) -> Verdict | None:
        """None when the event may be stored as it is; else what is wrong with it."""
        refuse = self.mode == "enforce"
        validator = self.validators.get(event_type)
        if validator is None:
            if self.allow_unknown:
                return None
            text = f"no schema is configured for event type {event_type[:64]!r}, and this source takes no others"
            return Verdict(refuse, "unknown_event_type", text, [{"pointer": "", "message": text}])
        try:
            found = list(islice(validator.iter_errors(properties), MAX_VIOLATIONS + 1))
        except (ValueError, RecursionError) as exc:  # not expected of data read from JSON; never a 500
            log.error("the schema of event type %r could not be applied: %s", event_type, str(exc)[:MAX_MESSAGE])
            found = [_Failure(f"the schema could not be applied ({type(exc).__name__})")]
        if not found:
            return None
        violations = [{"pointer": pointer(e.instance_path)[:MAX_POINTER], "message": e.message[:MAX_MESSAGE]}
                      for e in found[:MAX_VIOLATIONS]]
        first = violations[0]
        more = " (and more)" if len(found) > MAX_VIOLATIONS else \
            f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        text = (f"the properties of {event_type[:64]!r} do not match its schema: "
                f"{first['pointer'] or '(the properties)'}: {first['message']}{more}")
        return Verdict(refuse, "schema_violation", text, violations)


@dataclass
class _Failure:
    message: str
    instance_path: tuple = ()


def pointer(path) -> str:
    """A JSON pointer (RFC 6901) to a value, from the keys and indexes leading to it."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)


def compile_schemas(mode: str, allow_unknown: bool, events: dict[str, Any],
                    read_file: Callable[[str, str], tuple[Any, Report] | None], report: Report) -> SourceSchemas:
    """A source's schemas from its `schemas:` settings. `events` maps an event type to its schema, inline, or a
    file name that `read_file(name, event_type)` reads (None when it could not, having said why). Problems are
    reported with their key path: `report((event_type, *path), message)` inline, the file's own report for a
    file (its path is within the file)."""
    validators = {}
    for event_type, spec in events.items():
        if isinstance(spec, str):
            read = read_file(spec, event_type)
            if read is None:
                continue
            schema, where = read
        else:
            schema, where = spec, (lambda path, message, t=event_type: report((t, *path), message))
        validator = compile_schema(schema, where)
        if validator is not None:
            validators[event_type] = validator
    return SourceSchemas(mode, allow_unknown, validators)


def compile_schema(schema: Any, report: Report) -> jsonschema_rs.Validator | None:
    """A validator of `schema`, or None once every problem with it was reported (key path within the schema)."""
    if not isinstance(schema, dict | bool):
        report((), f"a schema is a JSON object (or true or false), not {type(schema).__name__}")
        return None
    cls = validator_for(schema, default=None) if isinstance(schema, dict) and "$schema" in schema \
        else Draft202012Validator
    if cls is None:
        report(("$schema",), f"{schema['$schema']!r} is not a JSON Schema draft inlet knows (leave it out for draft "
                             "2020-12)")
        return None
    problems = 0
    for error in cls(cls.META_SCHEMA).iter_errors(schema):
        error = best_match(error.context) if error.context else error  # anyOf: say which of its choices fits best
        report(tuple(error.absolute_path), f"not a valid schema: {error.message[:MAX_MESSAGE]}")
        problems += 1
    if problems:
        return None
    if isinstance(schema, dict):
        problems = _check_references(schema, cls, report)
    if problems:
        return None
    try:
        return jsonschema_rs.validator_for(schema, validate_formats=True, offline=True)
    except ValueError as exc:  # what the load-time checks let through and the compiled validator refuses
        report((), f"the schema cannot be compiled: {str(exc).splitlines()[0][:MAX_MESSAGE]}")
        return None


def _check_references(schema: dict, cls, report: Report) -> int:
    """Report each `$ref` that leads nowhere (or out of the schema); the number reported. A subschema with its
    own `$id` is left to the validator (its references have another base)."""
    base = schema.get("$id", "") if isinstance(schema.get("$id"), str) else ""
    resource = specification_with(cls.META_SCHEMA["$id"], default=None)
    if resource is None:
        return 0
    registry = Registry().with_resource(base, resource.create_resource(schema)).crawl()
    resolver = registry.resolver(base_uri=base)
    problems = 0
    for path, ref in _references(schema, ()):
        try:
            resolver.lookup(ref)
        except Unresolvable:
            where = "outside the schema: inlet fetches nothing" if not ref.startswith("#") else "to nothing"
            report(path, f"the reference {ref!r} points {where}; $ref may point inside the schema only "
                         "(#/$defs/..., an $anchor)")
            problems += 1
    return problems


def _references(node: Any, path: KeyPath) -> Iterator[tuple[KeyPath, str]]:
    if isinstance(node, dict):
        if path and isinstance(node.get("$id"), str):
            return
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield (*path, key), value
            elif key not in _DATA_KEYWORDS:
                yield from _references(value, (*path, key))
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _references(item, (*path, i))
