"""Loading a mapping file for a bridge: YAML with positions, every problem collected and reported together as a
`ConfigError` (file, line, column, key path, what is wrong), templates compiled once."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from connectors.registry import VENDORS
from mappings.problems import ConfigError, Problem, position, read_yaml
from mappings.rules import FieldRule, IdentityRule, Mapping, ObjectRules
from mappings.spec import RULES_KEYS, TOP_KEYS, FieldSpec, IdentitySpec, keys_of
from mappings.templates import IN_VARIABLES, OUT_VARIABLES, TemplateProblem, compile_expression
from mappings.writable import EVENT_BRIDGES, OBJECTS, write_problem

Key = tuple[str | int, ...]
HERE = Path(__file__).parent
# the mapping `mapping: default` means: each vendor's own (in its package), and the tracking bridge's
SHIPPED: dict[str, Path] = {**{bridge: spec.default_mapping for bridge, spec in VENDORS.items()
                               if spec.default_mapping is not None},
                            "tracking": HERE / "tracking.yaml"}
PUSH_NAMES = ", ".join(sorted(EVENT_BRIDGES))


def default_mapping(bridge: str) -> Path | None:
    """The mapping file shipped for `bridge`, or None (the webhook and redirect bridges have none)."""
    return SHIPPED.get(bridge)


def load_mapping(path: str | Path, bridge: str, objects: Iterable[str] | None = None) -> Mapping:
    """The mapping in `path` for a source of `bridge`; raises ConfigError listing every problem. `objects`: the
    object types of this source, when its bridge has none of its own (the rest bridge's sources declare theirs)."""
    path = Path(path)
    name = str(path)
    if bridge not in OBJECTS and bridge not in EVENT_BRIDGES:
        raise ConfigError([Problem(name, (), f"the {bridge} bridge takes no mapping; mappings are for "
                                             f"{', '.join(sorted(OBJECTS))} (objects) and {PUSH_NAMES} (events)")])
    node, data, positions = read_yaml(path, "no such mapping file", "mapping file")
    problems: list[Problem] = []

    def report(key: Key, message: str) -> None:
        line, col = position(positions, key)
        problems.append(Problem(name, key, message, line, col))

    if node is not None:
        _duplicate_keys(node, (), report)
    mapping = _Reader(name, bridge, report, objects).read(data)
    if problems:
        raise ConfigError(sorted(problems, key=lambda p: (p.line or 0, p.column or 0)))
    return mapping


class _Reader:
    def __init__(self, file: str, bridge: str, report, objects: Iterable[str] | None = None) -> None:
        self.file = file
        self.bridge = bridge
        self.objects = tuple(objects) if objects is not None else OBJECTS.get(bridge, ())
        self.report = report
        self.push = bridge in EVENT_BRIDGES

    def read(self, data: Any) -> Mapping:
        mapping = Mapping(self.file, self.bridge)
        section = "events" if self.push else "objects"
        if data is None:
            self.report((), f"the file is empty; a {self.bridge} mapping has `{section}:`")
            return mapping
        if not isinstance(data, dict):
            self.report((), f"the top level must be a mapping with the key `{section}:`")
            return mapping
        for key in data:
            if key not in TOP_KEYS:
                self.report((key,), f"unknown key {key!r}; valid keys: {', '.join(TOP_KEYS)}")
        if "objects" in data and self.push:
            self.report(("objects",), f"the {self.bridge} bridge is a push source: it maps `events:` "
                                      "(keyed by event type), not `objects:`")
        if "events" in data and not self.push:
            self.report(("events",), f"the {self.bridge} bridge pulls objects: it maps `objects:` (keyed by object "
                                     f"type); `events:` is for the push bridges ({PUSH_NAMES})")
        if section not in data:
            return mapping
        entries = data[section]
        if entries is None:
            return mapping
        if not isinstance(entries, dict):
            self.report((section,), f"must be a mapping keyed by {section[:-1]} type")
            return mapping
        target = mapping.events if self.push else mapping.objects
        for kind, value in entries.items():
            rules = self.rules((section, kind), kind, value)
            if rules is not None:
                target[kind] = rules
        return mapping

    def rules(self, at: Key, name: Any, value: Any) -> ObjectRules | None:
        known = True
        if not isinstance(name, str) or not name:
            self.report(at, f"{name!r} is not a valid {'event' if self.push else 'object'} type name")
            return None
        if not self.push and name not in self.objects:
            known = False
            self.report(at, self._unknown_object(name))
        if value is None:
            return ObjectRules(name)
        if not isinstance(value, dict):
            self.report(at, "must be a mapping with `identities:` and `fields:` lists")
            return None
        for key in value:
            if key not in RULES_KEYS:
                self.report((*at, key), f"unknown key {key!r}; valid keys: {', '.join(RULES_KEYS)}")
        identities = [self.identity((*at, "identities", i), item)
                      for i, item in enumerate(self.items(at, value, "identities"))]
        fields: list[FieldRule] = []
        attributes: dict[str, int] = {}
        written: dict[str, int] = {}
        for i, item in enumerate(self.items(at, value, "fields")):
            rule = self.field((*at, "fields", i), name, item, known)
            if rule is None:
                continue
            if rule.attribute in attributes:
                self.report((*at, "fields", i, "attribute"), f"attribute {rule.attribute!r} is already mapped by "
                                                             f"fields[{attributes[rule.attribute]}] of this {name}")
            else:
                attributes[rule.attribute] = i
            if rule.writes:
                if rule.path in written:
                    self.report((*at, "fields", i, "path"),
                                f"fields[{written[rule.path]}] of this {name} already writes {rule.path}")
                else:
                    written[rule.path] = i
            fields.append(rule)
        return ObjectRules(name, tuple(r for r in identities if r is not None), tuple(fields))

    def items(self, at: Key, value: dict, key: str) -> list:
        items = value.get(key)
        if items is None:
            return []
        if not isinstance(items, list):
            self.report((*at, key), f"must be a list of {key[:-1] if key == 'fields' else 'identity'} entries")
            return []
        return items

    def identity(self, at: Key, item: Any) -> IdentityRule | None:
        spec = self.validate(IdentitySpec, at, item, "{kind: email, path: properties.email}")
        return IdentityRule(spec.kind, spec.path) if spec is not None else None

    def field(self, at: Key, name: str, item: Any, known: bool) -> FieldRule | None:
        spec = self.validate(FieldSpec, at, item, "{path: properties.firstname, attribute: first_name}")
        if spec is None:
            return None
        assert isinstance(spec, FieldSpec)
        given = spec.model_fields_set
        if spec.in_ is not None and spec.direction == "out":
            self.report((*at, "in"), "`in` has no effect on a field with direction: out (it reads nothing)")
        if spec.type is not None and spec.direction == "out":
            self.report((*at, "type"), "`type` has no effect on a field with direction: out (it reads nothing)")
        if spec.out is not None and spec.direction == "one-way":
            self.report((*at, "out"), "`out` has no effect on a one-way field (it writes nothing); "
                                      "give direction: two-way or out")
        if "conflict" in given and spec.direction != "two-way":
            self.report((*at, "conflict"), "`conflict` applies only to two-way fields")
        if spec.direction != "one-way":
            if self.push:
                self.report((*at, "direction"), f"events are only read: a {self.bridge} source has nothing to write "
                                                "back to; use direction: one-way")
            elif known:
                why = write_problem(self.bridge, name, spec.path, spec.direction)
                if why:
                    self.report((*at, "direction"), why)
        in_template = self.template((*at, "in"), spec.in_, IN_VARIABLES)
        out_template = self.template((*at, "out"), spec.out, OUT_VARIABLES)
        return FieldRule(spec.path, spec.attribute, spec.direction, spec.type, spec.conflict,
                         in_template=in_template, out_template=out_template, file=self.file, object=name)

    def template(self, at: Key, source: str | None, variables: frozenset[str]):
        if source is None:
            return None
        try:
            return compile_expression(source, variables)
        except TemplateProblem as exc:
            self.report(at, str(exc))
            return None

    def validate(self, model: type[BaseModel], at: Key, item: Any, example: str) -> Any:
        if not isinstance(item, dict):
            self.report(at, f"must be a mapping like {example}")
            return None
        try:
            return model.model_validate(item)
        except ValidationError as exc:
            for err in exc.errors():
                self.report((*at, *err["loc"]), _message(err, model))
            return None

    def _unknown_object(self, name: str) -> str:
        valid = self.objects
        plural = {("companies" if o == "company" else o + "s"): o for o in valid}
        if name in plural:
            return f"use the singular object type {plural[name]!r} (as in records.object_type)"
        return f"unknown {self.bridge} object type {name!r}; valid: {', '.join(valid)}"


def _message(err: dict, model: type[BaseModel]) -> str:
    kind, loc, got = err["type"], err["loc"], err.get("input")
    key = loc[-1] if loc else ""
    if kind == "extra_forbidden":
        return f"unknown key {key!r}; valid keys: {', '.join(keys_of(model))}"
    if kind == "missing":
        return "is required"
    if kind == "literal_error":
        return f"{got!r} is not one of {err['ctx']['expected']}"
    if kind == "string_pattern_mismatch":
        if key == "attribute":
            return (f"{got!r} is not a valid attribute name: lower-case letters, digits and '_', starting with a "
                    "letter, at most 64 characters")
        if key == "kind":
            return (f"{got!r} is not a valid identity kind: lower-case letters, digits and '_', starting with a "
                    "letter, at most 32 characters")
        if key == "path":
            return f"{got!r} is not a valid path: dotted keys like properties.email, with no spaces or empty parts"
    if kind == "string_type":
        return f"must be a string, not {type(got).__name__}"
    return err["msg"]


def _duplicate_keys(node: yaml.Node, at: Key, report) -> None:
    """YAML keeps the last of two equal keys silently; a mapping file that has them is a mistake."""
    if isinstance(node, yaml.MappingNode):
        seen: set = set()
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode):
                if key.value in seen:
                    report((*at, key.value), f"duplicate key {key.value!r}")
                seen.add(key.value)
            _duplicate_keys(value, (*at, key.value), report)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _duplicate_keys(item, (*at, i), report)
