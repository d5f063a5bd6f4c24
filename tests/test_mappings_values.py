"""Mapping values: paths, templates (sandboxed, strict, native), type coercion, identity normalisation,
`same_remote`, and the event wildcard."""

from __future__ import annotations

import textwrap

import pytest
from jinja2.sandbox import SecurityError

from mappings import FieldRule, IdentityRule, MappingValueError, ObjectRules, load_mapping, same_remote
from mappings.paths import lookup, nested
from mappings.templates import IN_VARIABLES, OUT_VARIABLES, compile_expression
from mappings.types import CoercionError, coerce

MAPPING = """\
objects:
  contact:
    identities:
      - {kind: email, path: properties.email}
      - {kind: email, path: properties.work_email}
      - {kind: phone, path: properties.phone}
      - {kind: hubspot_contact, path: id}
    fields:
      - {path: properties.num_orders, attribute: orders, type: int, in: "{{ value | int }}"}
      - {path: properties.plan, attribute: plan, direction: out, out: "{{ value | upper }}"}
      - {path: properties.nickname, attribute: nickname, in: "{{ record.properties.missing }}"}
      - {path: properties.label, attribute: label, in: "{{ value }} ({{ record.id }})"}
      - {path: properties.probe, attribute: probe, in: "{{ value.__class__.__mro__ }}"}
      - {path: properties.grow, attribute: grow, in: "{{ record.properties.update({'x': 1}) }}"}
      - {path: properties.tier, attribute: tier, direction: two-way, out: "{{ attributes.plan ~ '/' ~ value }}"}
      - {path: properties.tags, attribute: tags, type: list}
"""


@pytest.fixture(scope="module")
def contact(tmp_path_factory) -> ObjectRules:
    path = tmp_path_factory.mktemp("mapping") / "hubspot.yaml"
    path.write_text(MAPPING)
    rules = load_mapping(path, "hubspot").for_object("contact")
    assert rules is not None
    return rules


def field(rules: ObjectRules, attribute: str) -> FieldRule:
    found = rules.field_for(attribute)
    assert found is not None
    return found


# -- paths ---------------------------------------------------------------------------------------------------


def test_paths_tell_absent_from_null():
    data = {"properties": {"email": "a@b.c", "phone": None}, "customer": None, "tags": ["x", "y"], "n": 0}
    assert lookup(data, "properties.email") == (True, "a@b.c")
    assert lookup(data, "properties.phone") == (True, None)
    assert lookup(data, "properties.mobile") == (False, None)
    assert lookup(data, "customer.id") == (True, None)  # through a null: null
    assert lookup(data, "nothing.id") == (False, None)
    assert lookup(data, "n.id") == (False, None)  # through a scalar: absent
    assert lookup(data, "tags") == (True, ["x", "y"])
    assert lookup(data, "tags.1") == (True, "y") and lookup(data, "tags.2") == (False, None)
    assert nested("metadata.plan", "pro") == {"metadata": {"plan": "pro"}}


def test_field_remote_reads_the_path(contact):
    orders = field(contact, "orders")
    assert orders.remote({"properties": {"num_orders": "4"}}) == (True, "4")
    assert orders.remote({"properties": {}}) == (False, None)
    assert orders.reads and not orders.writes
    plan, tier = field(contact, "plan"), field(contact, "tier")
    assert plan.writes and not plan.reads and tier.reads and tier.writes and tier.conflict == "newest"


# -- templates -----------------------------------------------------------------------------------------------


def test_in_template_gives_native_values_then_type(contact):
    orders = field(contact, "orders")
    assert orders.to_local("42", {}) == 42 and isinstance(orders.to_local("42", {}), int)
    assert orders.to_local(None, {}) is None  # null skips the template
    label = field(contact, "label")
    assert label.to_local(7, {"id": "101"}) == "7 (101)"  # text around an expression: a string


def test_templates_are_native_but_never_reparse_strings():
    render = compile_expression("{{ value }}", IN_VARIABLES).render
    assert render(value="+4412", record={}) == "+4412"
    assert render(value="[1, 2]", record={}) == "[1, 2]"
    assert render(value=[1, 2], record={}) == [1, 2]
    assert compile_expression("{{ none }}", IN_VARIABLES).render(value=1, record={}) is None
    assert compile_expression("{{ 42 }}", IN_VARIABLES).render(value=1, record={}) == 42
    assert compile_expression("{{ value.split(';') }}", IN_VARIABLES).render(value="a;b", record={}) == ["a", "b"]
    assert compile_expression("{{ value | map('upper') }}", IN_VARIABLES).render(value=["a"], record={}) == ["A"]
    assert compile_expression("{{ value | int(0) }}", IN_VARIABLES).render(value="x", record={}) == 0
    assert compile_expression("{{ value | int }}", IN_VARIABLES).render(value="4.7", record={}) == 4


def test_out_template_sees_value_and_attributes(contact):
    assert field(contact, "plan").to_remote("gold", {}) == "GOLD"
    assert field(contact, "plan").to_remote(None, {}) is None
    assert field(contact, "tier").to_remote("b", {"plan": "gold"}) == "gold/b"
    assert field(contact, "tags").to_remote(["a"], {}) == ["a"]  # no out template: unchanged


def test_strict_undefined_raises_a_mapping_value_error_naming_file_object_attribute(contact):
    with pytest.raises(MappingValueError) as info:
        field(contact, "nickname").to_local("Bo", {"properties": {"nickname": "Bo"}})
    err = info.value
    assert (err.object, err.attribute) == ("contact", "nickname") and err.file.endswith("hubspot.yaml")
    assert str(err) == (f"{err.file}: contact.nickname: in '{{{{ record.properties.missing }}}}': "
                        "'dict object' has no attribute 'missing'")
    with pytest.raises(MappingValueError, match="'dict object' has no attribute 'plan'"):
        field(contact, "tier").to_remote("b", {})
    for source in ("{{ nope | default(value) }}", "{{ value ~ nope }}"):
        assert "not defined here" in _problem(source)


def _problem(source: str) -> str:
    try:
        compile_expression(source, IN_VARIABLES)
    except Exception as exc:
        return str(exc)
    return ""


def test_bad_filter_input_raises(contact):
    with pytest.raises(MappingValueError, match=r"contact\.orders: in .*int: 'many' is not a number"):
        field(contact, "orders").to_local("many", {})
    joined = FieldRule("properties.tags", "tags", "out", out_template=compile_expression(
        "{{ value | join(';') }}", OUT_VARIABLES), file="f.yaml", object="contact")
    assert joined.to_remote(["a", "b"], {}) == "a;b"
    with pytest.raises(MappingValueError) as info:
        joined.to_remote(5, {})
    assert str(info.value) == """f.yaml: contact.tags: out "{{ value | join(';') }}": 'int' object is not iterable"""


@pytest.mark.parametrize("source", [
    "{{ value.__class__ }}",
    "{{ value.__class__.__mro__[1].__subclasses__() }}",
    "{{ record.__init__.__globals__ }}",
    "{{ '{0.__class__}'.format(value) }}",
    "{{ record.update({'x': 1}) }}",
    "{{ record.properties.setdefault('x', 1) }}",
    "{{ 'x' * 1000000 }}",
    "{{ 2 ** 100000 }}",
])
def test_templates_are_sandboxed(source):
    from mappings.templates import TemplateFailure

    record = {"properties": {}}
    with pytest.raises(TemplateFailure) as info:
        compile_expression(source, IN_VARIABLES).render(value="v", record=record)
    assert isinstance(info.value.__cause__, SecurityError) and str(info.value).startswith("not allowed: ")
    assert record == {"properties": {}}


def test_sandbox_errors_reach_the_caller_as_mapping_value_errors(contact):
    for attribute in ("probe", "grow"):
        with pytest.raises(MappingValueError, match=f"contact.{attribute}: in .*not allowed: ") as info:
            field(contact, attribute).to_local("x", {"properties": {}})
        assert isinstance(info.value.__cause__.__cause__, SecurityError)


def test_no_globals_and_only_the_documented_variables():
    assert "not defined here" in _problem("{{ range(10) | list }}")
    assert "'cycler' is not defined here" in _problem("{{ cycler }}")
    assert "'attributes' is not defined here; a template here has record and value" in _problem("{{ attributes }}")
    assert compile_expression("{{ attributes.plan }}", OUT_VARIABLES).source == "{{ attributes.plan }}"


def test_a_template_that_gives_a_method_is_refused():
    from mappings.templates import TemplateFailure

    with pytest.raises(TemplateFailure, match="not a value"):
        compile_expression("{{ value.upper }}", IN_VARIABLES).render(value="x", record={})


# -- types ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("type_", "value", "expected"), [
    ("string", 42, "42"), ("string", True, "true"), ("string", 1.5, "1.5"), ("string", ["a", 1], '["a",1]'),
    ("string", {"a": None}, '{"a":null}'), ("string", "x", "x"),
    ("int", 42, 42), ("int", "42", 42), ("int", " -7 ", -7), ("int", 42.0, 42), ("int", "4.2e1", 42),
    ("int", "", None), ("int", "12.000", 12),
    ("float", 3, 3.0), ("float", "2.50", 2.5), ("float", "1e3", 1000.0), ("float", "  ", None),
    ("bool", True, True), ("bool", "TRUE", True), ("bool", "false", False), ("bool", "Yes", True),
    ("bool", "no", False), ("bool", "1", True), ("bool", "0", False), ("bool", 1, True), ("bool", 0, False),
    ("bool", "", None),
    ("datetime", "2024-01-05T10:00:00Z", "2024-01-05T10:00:00.000000Z"),
    ("datetime", "2024-01-05T10:00:00.123+02:00", "2024-01-05T08:00:00.123000Z"),
    ("datetime", "2024-01-05T10:00:00", "2024-01-05T10:00:00.000000Z"),
    ("datetime", "2024-01-05", "2024-01-05T00:00:00.000000Z"),
    ("datetime", 1704067200, "2024-01-01T00:00:00.000000Z"),
    ("datetime", 1704067200123, "2024-01-01T00:00:00.123000Z"),
    ("datetime", "1704067200000", "2024-01-01T00:00:00.000000Z"),
    ("datetime", 1704067200.5, "2024-01-01T00:00:00.500000Z"), ("datetime", "", None),
    ("list", ["a", "b"], ["a", "b"]), ("list", "a;b ; ;c", ["a", "b", "c"]), ("list", "", []), ("list", "a", ["a"]),
    ("list", ("x",), ["x"]),
    (None, {"kept": 1}, {"kept": 1}),
])
def test_type_coercion(type_, value, expected):
    got = coerce(value, type_)
    assert got == expected and type(got) is type(expected)


@pytest.mark.parametrize("type_", ["string", "int", "float", "bool", "datetime", "list", None])
def test_null_stays_null(type_):
    assert coerce(None, type_) is None


@pytest.mark.parametrize(("type_", "value", "message"), [
    ("int", "abc", "'abc' is not a number"), ("int", 4.5, "4.5 is not a whole number"),
    ("int", "4.5", "'4.5' is not a whole number"), ("int", True, "True is a boolean, not an int"),
    ("int", [1], "[1] (list) cannot be an int"), ("int", "1_000", "'1_000' is not a number"),
    ("float", "nan", "'nan' is not a number"), ("float", float("inf"), "inf is not a finite number"),
    ("float", False, "False is a boolean, not a float"),
    ("bool", "maybe", "'maybe' is not a boolean"), ("bool", 2, "2 is not a boolean"),
    ("datetime", "next tuesday", "'next tuesday' is not an ISO-8601 date-time or epoch time"),
    ("datetime", True, "True is a boolean, not a date-time"), ("datetime", 1e20, "out of range"),
    ("list", 5, "5 (int) is not a list or a ';'-separated string"), ("list", {"a": 1}, "is not a list"),
])
def test_impossible_coercions_raise(type_, value, message):
    with pytest.raises(CoercionError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        coerce(value, type_)


def test_coercion_failure_is_a_mapping_value_error(tmp_path):
    path = tmp_path / "stripe.yaml"
    path.write_text("objects:\n  customer:\n    fields: [{path: balance, attribute: stripe_balance, type: int}]\n")
    rule = load_mapping(path, "stripe").for_object("customer").fields[0]
    assert rule.to_local("1200", {}) == 1200
    with pytest.raises(MappingValueError) as info:
        rule.to_local("12.5", {})
    assert str(info.value) == f"{path}: customer.stripe_balance: type int: '12.5' is not a whole number"
    assert info.value.cause == "type int: '12.5' is not a whole number"


# -- identities ----------------------------------------------------------------------------------------------


def test_identities_are_normalised_deduplicated_and_in_order(contact):
    data = {"id": 501, "properties": {"email": "  Ann.Lee@Example.COM ", "work_email": "ann.lee@example.com",
                                      "phone": "+1 (555) 010-0000"}}
    assert contact.identities_of(data) == [("email", "ann.lee@example.com"), ("phone", "+15550100000"),
                                           ("hubspot_contact", "501")]


@pytest.mark.parametrize(("kind", "raw", "expected"), [
    ("email", " A@B.C ", "a@b.c"), ("phone", "555-0100", "5550100"), ("phone", " +44 20 7946 0958", "+442079460958"),
    ("phone", "ext.", None), ("phone", "+", None), ("shopify_customer", " gid://shopify/Customer/1 ",
                                                    "gid://shopify/Customer/1"),
    ("stripe_customer", "cus_AbC", "cus_AbC"), ("hubspot_contact", 42, "42"),
    ("email", "", None), ("email", "   ", None), ("email", None, None), ("email", True, None),
    ("email", ["a@b.c"], None), ("email", {"a": 1}, None),
])
def test_identity_values(kind, raw, expected):
    assert IdentityRule(kind, "x").value({"x": raw}) == expected


def test_a_missing_identity_gives_none():
    assert IdentityRule("email", "properties.email").value({"properties": {}}) is None
    assert ObjectRules("contact", (IdentityRule("email", "a"),)).identities_of({}) == []


# -- same_remote ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("a", "b"), [
    (None, ""), ("", "  "), (None, []), (None, {}), ("x", " x "),
    (42, "42"), (42, "42.0"), (42.0, 42), ("42.50", 42.5), (0, "0"), (-3, "-3.00"),
    (True, "true"), (False, "FALSE"), (True, True),
    (["a", "b"], "a;b"), (["a", "b"], "b;a"), (["a", "a", "b"], ["b", "a"]), (["a"], "a"), ([1, 2], ["2", "1"]),
    ("2024-01-05T10:00:00Z", "2024-01-05T10:00:00.000Z"), ("2024-01-05T10:00:00Z", "2024-01-05T12:00:00+02:00"),
    ({"a": "1", "b": None}, {"a": 1}), ({"a": ["x"]}, {"a": "x"}),
])
def test_same_remote(a, b):
    assert same_remote(a, b) and same_remote(b, a)


@pytest.mark.parametrize(("a", "b"), [
    (None, "x"), ("", 0), (None, False), ("x", "X"), ("02139", "2139"), (42, "42x"), (42, 43), (1, True),
    (True, "yes"), (True, "1"), (False, None), (["a", "b"], "a"), (["a"], ["a", "b"]), ("a;b", "b;a"),
    ({"a": 1}, {"a": 2}), ({"a": 1}, "a"), ("2024-01-05T10:00:00Z", "2024-01-05T10:00:01Z"),
    (1704448800, "2024-01-05T10:00:00Z"),
])
def test_not_same_remote(a, b):
    assert not same_remote(a, b) and not same_remote(b, a)


# -- events --------------------------------------------------------------------------------------------------


def test_for_event_exact_then_wildcard(tmp_path):
    path = tmp_path / "webhook.yaml"
    path.write_text(textwrap.dedent("""\
        events:
          identify:
            identities: [{kind: email, path: properties.email}]
          "*":
            identities: [{kind: user_id, path: context.message.userId}]
            fields: [{path: properties.plan, attribute: plan}]
        """))
    mapping = load_mapping(path, "webhook")
    assert mapping.for_event("identify").name == "identify"
    assert mapping.for_event("Order Completed").name == "*"
    data = {"properties": {"plan": "pro"}, "context": {"message": {"userId": " u1 "}}}
    assert mapping.for_event("page").identities_of(data) == [("user_id", "u1")]
    assert mapping.for_object("contact") is None and mapping.written_attributes() == set()
    path.write_text("events:\n  identify: {}\n")
    assert load_mapping(path, "webhook").for_event("page") is None
