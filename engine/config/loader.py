"""Reading a config file: YAML with positions, `${VAR}` interpolation, validation, and clear problems.

Every problem names the file, the line and column when known, the key path (`sources[2].secret`) and what is
wrong. All problems are collected and reported together; no traceback reaches the user.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from pydantic import ValidationError

from connectors.registry import vendor
from engine.config.models import BRIDGES, Config
from engine.policy.schemas import compile_schemas
from mappings import default_mapping, load_mapping
from mappings.problems import ConfigError, Path_, Problem, position, read_yaml

_VAR = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def resolve_config_path(option: str | None) -> Path:
    """`-c/--config`, else `$INLET_CONFIG`, else `./inlet.yaml`."""
    return Path(option or os.environ.get("INLET_CONFIG") or "inlet.yaml")


def load_config(path: str | Path, environ: dict[str, str] | None = None) -> Config:
    path = Path(path)
    env = os.environ if environ is None else environ
    name = str(path)
    _, data, positions = read_yaml(path, "no such file (give one with -c/--config or $INLET_CONFIG)", "file")

    def problem(p: Path_, message: str) -> Problem:
        line, col = position(positions, p)
        return Problem(name, p, message, line, col)

    if data is None:
        raise ConfigError([Problem(name, (), "the file is empty; it needs at least a `sources:` list")])
    if not isinstance(data, dict):
        raise ConfigError([problem((), "the top level must be a mapping with keys store, server and sources")])

    problems: list[Problem] = []
    data = _interpolate(data, (), env, lambda p, m: problems.append(problem(p, m)))
    problems += [problem(p, m) for p, m in _duplicate_ids(data)]
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        config = None
        for err in exc.errors():
            p = _key_path(tuple(err["loc"]), err["type"], data)
            problems.append(problem(p, _message(err)))
    if problems:
        raise ConfigError(sorted(problems, key=lambda pr: (pr.line or 0, pr.column or 0)))
    config = _relative_to(config, path.parent)
    _load_mappings(config, path.parent, problem)
    _load_schemas(config, path.parent, problem)
    return config


def _load_mappings(config: Config, base: Path, problem) -> None:
    """Compile every source's mapping file once, now; problems in them are config problems (the mapping file's
    own name, line and key path)."""
    if not any(source.mapping for source in config.sources):
        return
    problems: list[Problem] = []
    for i, source in enumerate(config.sources):
        if source.mapping is None:
            continue
        if source.mapping == "default":
            file = default_mapping(source.bridge)
            if file is None:
                problems.append(problem(("sources", i, "mapping"), f"inlet ships no default mapping for the "
                                                                   f"{source.bridge} bridge; name a file"))
                continue
        else:
            file = Path(source.mapping)
            file = file if file.is_absolute() else base / file
            if not file.is_file():
                problems.append(problem(("sources", i, "mapping"), f"no mapping file {str(file)!r} (a path "
                                                                   "relative to the config file, or `default`)"))
                continue
        try:
            spec = vendor(source.bridge)
            objects = spec.objects_of(source).values() if spec is not None else None
            config.mappings[source.id] = load_mapping(file, source.bridge, objects)
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)


def _load_schemas(config: Config, base: Path, problem) -> None:
    """Check and compile every push source's event schemas once, now: a schema that is not one, or a file that
    cannot be read, is a config problem naming the file (the config, or the schema file) and the key path."""
    problems: list[Problem] = []
    for i, source in enumerate(config.sources):
        policy = getattr(source, "schemas", None)
        if policy is None:
            continue
        at = ("sources", i, "schemas", "events")

        def inline(path, message, at=at):
            problems.append(problem((*at, *path), message))

        def read_file(name: str, event_type: str, at=at):
            file = Path(name) if Path(name).is_absolute() else base / name
            if not file.is_file():
                problems.append(problem((*at, event_type), f"no schema file {str(file)!r} (a JSON or YAML file; "
                                                           "a path relative to the config file)"))
                return None
            try:
                data, positions = _read_schema_file(file)
            except ConfigError as exc:
                problems.extend(exc.problems)
                return None

            def report(path, message):
                problems.append(Problem(str(file), path, message, *position(positions, path)))

            return data, report

        config.event_schemas[source.id] = compile_schemas(policy.mode, policy.allow_unknown, policy.events,
                                                          read_file, inline)
    if problems:
        raise ConfigError(problems)


def _read_schema_file(file: Path) -> tuple[object, dict]:
    """A schema file's data and the line and column of its keys. JSON is read as JSON (YAML 1.1 would take
    `1e-3` for a string), its positions as YAML where it parses so (not with tabs: then none)."""
    if file.suffix.lower() != ".json":
        _, data, positions = read_yaml(file, "no such schema file", "schema file")
        return data, positions
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise ConfigError([Problem(str(file), (), f"invalid JSON: {exc.msg}", exc.lineno, exc.colno)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(str(file), (), f"cannot read the schema file: {exc}")]) from None
    try:
        _, _, positions = read_yaml(file, "no such schema file", "schema file")
    except ConfigError:
        positions = {}
    return data, positions


def _relative_to(config: Config, base: Path) -> Config:
    """Relative store and snapshot paths are relative to the config file, not to where inlet was started."""
    store = config.store
    updates = {}
    if not store.path.is_absolute():
        updates["path"] = base / store.path
    if store.snapshot and not store.snapshot.path.is_absolute():
        updates["snapshot"] = store.snapshot.model_copy(update={"path": base / store.snapshot.path})
    if updates:
        config = config.model_copy(update={"store": store.model_copy(update=updates)})
    return _lake_relative_to(config, base)


def _lake_relative_to(config: Config, base: Path) -> Config:
    """A lake warehouse given as a relative directory, and a relative SQLite catalog file, are relative to the config
    file too (`sqlite:///lake.db`; `sqlite:////abs/lake.db` is absolute)."""
    lake = config.lake
    if lake is None:
        return config
    updates = {}
    if "://" not in lake.warehouse and not Path(lake.warehouse).is_absolute():
        updates["warehouse"] = str(base.absolute() / lake.warehouse)
    if lake.catalog.startswith("sqlite:///") and not lake.catalog.startswith("sqlite:////") \
            and lake.catalog != "sqlite:///:memory:":
        updates["catalog"] = "sqlite:///" + str(base.absolute() / lake.catalog[len("sqlite:///"):])
    return config.model_copy(update={"lake": lake.model_copy(update=updates)}) if updates else config


def _key_path(loc: Path_, kind: str, data: object = None) -> Path_:
    """pydantic names the union member in the path (`sources.0.webhook.secret`, and in a source's own tagged unions,
    `auth.bearer.token`); the file does not."""
    out: list = []
    node = data
    for i, part in enumerate(loc):
        if part in BRIDGES and i > 0 and isinstance(loc[i - 1], int) and loc[:1] == ("sources",):
            continue
        if len(out) > 2 and isinstance(node, dict) and node.get("type") == part and (
                part not in node or not isinstance(node[part], dict) or loc[i + 1:i + 2] == ()
                or loc[i + 1] not in node[part]):
            continue  # the member of a tagged union inside a source (`type: bearer`), unless a key of that name
        out.append(part)
        node = node.get(part) if isinstance(node, dict) else \
            node[part] if isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node) else None
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        out.append("bridge" if len(out) == 2 else "type")
    return tuple(out)


def _message(err: dict) -> str:
    kind, loc = err["type"], err["loc"]
    valid = ", ".join(BRIDGES)
    if kind == "extra_forbidden":
        return f"unknown key {loc[-1]!r}"
    if kind in ("union_tag_not_found", "union_tag_invalid") and len(loc) > 2:  # a tagged union inside a source
        tags = err.get("ctx", {}).get("expected_tags", "")
        if kind == "union_tag_not_found":
            return "`type` is required" + (f"; valid types: {tags}" if tags else "")
        return f"unknown type {err['ctx']['tag']!r}; valid types: {tags}"
    if kind == "union_tag_not_found":
        return f"is required; valid bridges: {valid}"
    if kind == "missing":
        return "is required"
    if kind == "union_tag_invalid":
        return f"unknown bridge {err['ctx']['tag']!r}; valid bridges: {valid}"
    if loc and loc[-1] == "bridge" and kind == "literal_error":
        return f"unknown bridge {err.get('input')!r}; valid bridges: {valid}"
    if kind == "string_pattern_mismatch" and loc and loc[-1] == "id":
        return (f"{err.get('input')!r} is not a valid id: 1-64 letters, digits, '_', '.' or '-', "
                "starting with a letter or digit")
    msg = err["msg"]
    return msg[len("Value error, "):] if msg.startswith("Value error, ") else msg


def _duplicate_ids(data: dict) -> list[tuple[Path_, str]]:
    sources = data.get("sources")
    if not isinstance(sources, list):
        return []
    seen: dict[str, int] = {}
    out = []
    for i, src in enumerate(sources):
        sid = src.get("id") if isinstance(src, dict) else None
        if not isinstance(sid, str):
            continue
        if sid in seen:
            out.append((("sources", i, "id"), f"duplicate source id {sid!r} (first used by sources[{seen[sid]}])"))
        else:
            seen[sid] = i
    return out


def _interpolate(value, path: Path_, env, report):
    if isinstance(value, dict):
        return {k: _interpolate(v, (*path, k), env, report) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*path, i), env, report) for i, v in enumerate(value)]
    if not isinstance(value, str) or "$" not in value:
        return value

    def replace(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        var, default = m.group(1), m.group(2)
        got = env.get(var)
        if got is None or (got == "" and default is not None):
            if default is not None:
                return default
            report(path, f"environment variable {var} is not set (write ${{{var}:-default}} to give a default)")
            return ""
        return got

    return _VAR.sub(replace, value)
