"""YAML files read with the line and column of every key, and the problems found in them: the config file and
mapping files report what is wrong the same way (file:line:column: key.path: message), all problems together."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml

Path_ = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    file: str
    path: Path_
    message: str
    line: int | None = None
    column: int | None = None

    @property
    def key_path(self) -> str:
        out = ""
        for part in self.path:
            out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
        return out

    def __str__(self) -> str:
        where = self.file + (f":{self.line}:{self.column}" if self.line else "")
        return f"{where}: {self.key_path}: {self.message}" if self.path else f"{where}: {self.message}"


class ConfigError(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


def read_yaml(path: Path, missing: str, what: str) -> tuple[yaml.Node | None, object, dict[Path_, tuple[int, int]]]:
    """A YAML file's node tree, its data, and the line and column of each key path in it; a ConfigError naming
    the file (`missing` when it does not exist, `what` it is otherwise) when it cannot be read or parsed."""
    name = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([Problem(name, (), missing)]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([Problem(name, (), f"cannot read the {what}: {exc}")]) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line, col = (mark.line + 1, mark.column + 1) if mark else (None, None)
        raise ConfigError([Problem(name, (), f"invalid YAML: {problem}", line, col)]) from None
    positions: dict[Path_, tuple[int, int]] = {}
    if node is not None:
        _record_positions(node, (), positions)
    return node, data, positions


def _record_positions(node: yaml.Node, path: Path_, out: dict) -> None:
    out[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if isinstance(node, yaml.MappingNode):
        for key, val in node.value:
            k = key.value
            out[(*path, k)] = (key.start_mark.line + 1, key.start_mark.column + 1)
            _record_positions(val, (*path, k), out)
            out[(*path, k)] = (key.start_mark.line + 1, key.start_mark.column + 1)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _record_positions(item, (*path, i), out)


def position(positions: dict, path: Path_) -> tuple[int | None, int | None]:
    """The position of the deepest part of `path` that the file has (a missing key points at its parent)."""
    for n in range(len(path), -1, -1):
        if path[:n] in positions:
            return positions[path[:n]]
    return None, None
