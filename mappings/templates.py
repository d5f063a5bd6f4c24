"""The `in` and `out` templates: jinja2 expressions, sandboxed, strict about undefined names, compiled once.

- Sandboxed: `ImmutableSandboxedEnvironment`, so a template cannot reach Python internals (`value.__class__`
  raises `SecurityError`) nor change the record or the attributes it is given (`record.update(...)`). There are
  no globals (`range`, `dict`, `cycler`... are not defined); `*` that would build a string or list over 100,000
  items and `**` with an exponent over 1,000 raise `SecurityError`.
- Strict: a name that is not defined raises, whether it is output (`{{ nope }}`), used, or inside a list.
- Native: a template that is exactly one `{{ ... }}` gives that expression's value with its Python type
  (`{{ value | int }}` gives an int, `{{ none }}` gives None, `{{ value.split(';') }}` a list); any other template
  (text around the expression, or several expressions) gives a string. Strings are never re-parsed: "+4412"
  stays a string.
- The `int` and `float` filters are strict: a value that is not a number raises, unless a default is given
  (`{{ value | int(0) }}`); stock jinja2 returns 0 silently.
"""

from __future__ import annotations

import types as pytypes
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateSyntaxError, Undefined, meta
from jinja2.nativetypes import NativeCodeGenerator
from jinja2.sandbox import ImmutableSandboxedEnvironment, SecurityError

from mappings.types import CoercionError, decimal, show

MAX_SIZE = 100_000
MAX_EXPONENT = 1_000
IN_VARIABLES = frozenset({"value", "record"})
OUT_VARIABLES = frozenset({"value", "attributes"})


class TemplateProblem(Exception):
    """A template that cannot be compiled (syntax, or a name that is not one of its variables)."""


class TemplateFailure(Exception):
    """A template that failed while rendering one value; the message is the cause."""


class _CodeGenerator(NativeCodeGenerator):
    def _output_const_repr(self, group: Iterable[Any]) -> str:
        # A template that is one constant expression keeps its type ({{ none }} is None); jinja's native
        # generator joins constants into a string and then re-parses every string output, which we do not.
        group = list(group)
        if len(group) == 1:
            return repr(group[0])
        return repr("".join(str(v) for v in group))


_NO_DEFAULT = object()


def _int_filter(value: Any, default: Any = _NO_DEFAULT, base: int = 10) -> Any:
    """jinja's `int`, except that a value that is not a number raises instead of giving 0 (unless a default is
    given). Numbers and numeric strings are truncated towards zero like jinja's: "4.7" gives 4."""
    try:
        if isinstance(value, str):
            number = int(value.strip(), base) if base != 10 else decimal(value)
            if number is None:
                raise ValueError
            return int(number)
        if isinstance(value, int | float | Decimal):
            return int(value)
    except (ValueError, OverflowError):
        pass
    if default is _NO_DEFAULT:
        raise CoercionError(f"int: {show(value)} is not a number")
    return default


def _float_filter(value: Any, default: Any = _NO_DEFAULT) -> Any:
    """jinja's `float`, except that a value that is not a number raises instead of giving 0.0 (unless a default
    is given)."""
    if isinstance(value, str):
        number = decimal(value)
        if number is not None:
            return float(number)
    elif isinstance(value, int | float | Decimal):
        return float(value)
    if default is _NO_DEFAULT:
        raise CoercionError(f"float: {show(value)} is not a number")
    return default


class _Environment(ImmutableSandboxedEnvironment):
    code_generator_class = _CodeGenerator
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise SecurityError(f"an exponent over {MAX_EXPONENT} is not allowed in a mapping template")
            return left**right
        if isinstance(left, int) and isinstance(right, str | list | tuple):
            left, right = right, left
        if isinstance(left, str | list | tuple) and isinstance(right, int) and len(left) * right > MAX_SIZE:
            raise SecurityError(f"a result over {MAX_SIZE} items is not allowed in a mapping template")
        return super().call_binop(context, operator, left, right)


ENV = _Environment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False)
ENV.globals.clear()
ENV.filters["int"] = _int_filter
ENV.filters["float"] = _float_filter

_PLAIN = (str, int, float, bool, Decimal, datetime, date)


@dataclass(frozen=True)
class Expression:
    """One compiled template. `render(**variables)` gives its value or raises `TemplateFailure`."""

    source: str
    template: Template = field(repr=False, compare=False)

    def render(self, **variables: Any) -> Any:
        try:
            out = _concat(self.template.root_render_func(self.template.new_context(variables)))
            return _plain(out)
        except TemplateFailure:
            raise
        except Exception as exc:  # a template can fail in any filter or method it calls
            raise TemplateFailure(_cause(exc)) from exc


def compile_expression(source: str, variables: frozenset[str]) -> Expression:
    """Compile `source`, whose only free names may be `variables`; `TemplateProblem` says what is wrong."""
    if not source.strip():
        raise TemplateProblem("the template is empty")
    try:
        tree = ENV.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax error: {exc.message}") from None
    unknown = sorted(meta.find_undeclared_variables(tree) - variables)
    if unknown:
        names = ", ".join(repr(n) for n in unknown)
        raise TemplateProblem(f"{names} {'is' if len(unknown) == 1 else 'are'} not defined here; "
                              f"a template here has {' and '.join(sorted(variables))}")
    try:
        return Expression(source, ENV.from_string(tree))
    except TemplateSyntaxError as exc:  # pragma: no cover - parse() already found syntax errors
        raise TemplateProblem(f"template syntax error: {exc.message}") from None


def _concat(values: Iterator[Any]) -> Any:
    parts = list(values)
    if not parts:
        return None
    if len(parts) == 1:
        return parts[0]
    return "".join(str(_plain(p)) for p in parts)


def _plain(value: Any) -> Any:
    """The value as data: undefined names raise, generators become lists, methods and objects are refused."""
    if isinstance(value, Undefined):
        value._fail_with_undefined_error()
    if value is None or isinstance(value, _PLAIN):
        return value
    if isinstance(value, list | tuple | pytypes.GeneratorType | map | filter):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    raise TemplateFailure(f"the template gave a {type(value).__name__}, not a value")


def _cause(exc: Exception) -> str:
    message = str(exc) or type(exc).__name__
    if isinstance(exc, SecurityError):
        return f"not allowed: {message}"
    return message
