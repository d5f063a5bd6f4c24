"""Mapping files: the shipped defaults load for their bridges, and every problem of a bad file is reported
together with its file, line, column and key path."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from connectors.hubspot.objects import CRM_OBJECTS
from connectors.shopify.objects import OBJECTS as SHOPIFY_OBJECTS
from connectors.stripe.objects import OBJECTS as STRIPE_OBJECTS
from engine.config.loader import ConfigError
from mappings import default_mapping, load_mapping
from mappings.writable import OBJECTS, can_write

SHIPPED = ("hubspot", "shopify", "stripe", "tracking")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mapping.yaml"
    path.write_text(textwrap.dedent(text))
    return path


def problems(path: Path, bridge: str = "hubspot") -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_mapping(path, bridge)
    return [str(p) for p in info.value.problems]


# -- the shipped files ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("bridge", SHIPPED)
def test_each_shipped_mapping_loads_for_its_bridge(bridge):
    path = default_mapping(bridge)
    if bridge == "tracking":
        assert path is not None and path.parent.name == "mappings" and path.name == "tracking.yaml"
    else:  # a vendor's default mapping lives in its connector package
        assert path is not None and path.parent.name == bridge and path.name == "mapping.yaml"
    mapping = load_mapping(path, bridge)
    assert mapping.bridge == bridge and mapping.file == str(path)
    if bridge == "tracking":
        assert not mapping.objects and "identify" in mapping.events
    else:
        assert not mapping.events
        assert list(mapping.objects) == list(OBJECTS[bridge])  # every object of the vendor, in its order
    assert path.read_text().startswith("# inlet mapping for")


def test_webhook_and_redirect_have_no_default():
    assert default_mapping("webhook") is None and default_mapping("redirect") is None


def test_the_object_types_are_the_connectors_own():
    assert set(OBJECTS["hubspot"]) == {o.object_type for o in CRM_OBJECTS.values()} | {"owner"}
    assert set(OBJECTS["shopify"]) == {o.object_type for o in SHOPIFY_OBJECTS.values()}
    assert set(OBJECTS["stripe"]) == {o.object_type for o in STRIPE_OBJECTS.values()}


def test_shipped_defaults_link_records_and_write_conservatively():
    hubspot = load_mapping(default_mapping("hubspot"), "hubspot")
    assert hubspot.for_object("owner").identities == () and hubspot.for_object("company").identities == ()
    for bridge in ("hubspot", "shopify", "stripe", "tracking"):  # writing to users' apps is opt-in
        assert load_mapping(default_mapping(bridge), bridge).written_attributes() == set()

    shopify = load_mapping(default_mapping("shopify"), "shopify")
    gid = "gid://shopify/Customer/7"
    customer = {"id": gid, "email": " Ann@Example.COM ", "tags": ["vip", "b2b"], "numberOfOrders": "3",
                "amountSpent": {"amount": "12.50", "currencyCode": "EUR"}}
    assert shopify.for_object("customer").identities_of(customer) == [("email", "ann@example.com"),
                                                                       ("shopify_customer", gid)]
    assert shopify.for_object("order").identities_of({"customer": {"id": gid}, "email": None}) == [
        ("shopify_customer", gid)]
    assert shopify.for_object("order").identities_of({"customer": None, "email": "x@y.z"}) == [("email", "x@y.z")]
    values = {f.attribute: f.to_local(f.remote(customer)[1], customer)
              for f in shopify.for_object("customer").fields if f.remote(customer)[0]}
    assert values == {"shopify_tags": ["vip", "b2b"], "shopify_orders": 3, "shopify_amount_spent": 12.5,
                      "shopify_currency": "EUR"}

    stripe = load_mapping(default_mapping("stripe"), "stripe")
    assert stripe.for_object("customer").identities_of({"id": "cus_1", "email": "a@b.c"}) == [
        ("email", "a@b.c"), ("stripe_customer", "cus_1")]
    assert stripe.for_object("charge").identities_of({"customer": "cus_1", "billing_details": {"email": None}}) == [
        ("stripe_customer", "cus_1")]
    created = stripe.for_object("customer").field_for("stripe_created_at")
    assert created.to_local(1704067200, {}) == "2024-01-01T00:00:00.000000Z"

    tracking = load_mapping(default_mapping("tracking"), "tracking")
    assert tracking.for_event("identify").identities_of({"properties": {"email": "Z@Q.io"}, "context": {}}) == [
        ("email", "z@q.io")]
    assert tracking.for_event("Order Completed") is None


@pytest.mark.parametrize("bridge", ("hubspot", "shopify", "stripe"))
def test_the_commented_write_back_examples_load_when_uncommented(tmp_path, bridge):
    text = default_mapping(bridge).read_text()
    uncommented, n = re.subn(r"^(\s*)# - ", r"\1- ", text, flags=re.M)
    assert n >= 3
    mapping = load_mapping(write(tmp_path, uncommented), bridge)
    assert len(mapping.written_attributes()) > len(load_mapping(default_mapping(bridge), bridge).written_attributes())


# -- problems ------------------------------------------------------------------------------------------------


def test_every_problem_is_reported_together_with_position_and_key_path(tmp_path):
    path = write(tmp_path, """\
        objects:
          contact:
            identities:
              - {kind: Email, path: properties.email}
              - {kind: hubspot_contact}
            fields:
              - {path: properties.firstname, attribute: First-Name}
              - {path: properties.lastname, attribute: last_name, direction: both}
              - {path: properties.x, attribute: x, type: integer, conflict: oldest}
              - {path: properties.y, attribute: y, colour: red}
              - {path: "properties..z", attribute: z}
              - {attribute: w}
          contacts: {}
          ticket:
            fields: []
        extra: 1
        """)
    f = str(path)
    assert problems(path) == [
        f"{f}:4:10: objects.contact.identities[0].kind: 'Email' is not a valid identity kind: lower-case letters, "
        "digits and '_', starting with a letter, at most 32 characters",
        f"{f}:5:9: objects.contact.identities[1].path: is required",
        f"{f}:7:38: objects.contact.fields[0].attribute: 'First-Name' is not a valid attribute name: lower-case "
        "letters, digits and '_', starting with a letter, at most 64 characters",
        f"{f}:8:59: objects.contact.fields[1].direction: 'both' is not one of 'one-way', 'two-way' or 'out'",
        f"{f}:9:44: objects.contact.fields[2].type: 'integer' is not one of 'string', 'int', 'float', 'bool', "
        "'datetime' or 'list'",
        f"{f}:9:59: objects.contact.fields[2].conflict: 'oldest' is not one of 'newest', 'remote_wins' or "
        "'local_wins'",
        f"{f}:10:44: objects.contact.fields[3].colour: unknown key 'colour'; valid keys: path, attribute, "
        "direction, type, in, out, conflict",
        f"{f}:11:10: objects.contact.fields[4].path: 'properties..z' is not a valid path: dotted keys like "
        "properties.email, with no spaces or empty parts",
        f"{f}:12:9: objects.contact.fields[5].path: is required",
        f"{f}:13:3: objects.contacts: use the singular object type 'contact' (as in records.object_type)",
        f"{f}:14:3: objects.ticket: unknown hubspot object type 'ticket'; valid: contact, company, deal, owner",
        f"{f}:16:1: extra: unknown key 'extra'; valid keys: objects, events",
    ]


def test_template_errors_are_load_errors(tmp_path):
    path = write(tmp_path, """\
        objects:
          contact:
            fields:
              - {path: properties.a, attribute: a, in: "{{ value | }}"}
              - {path: properties.b, attribute: b, direction: out, out: "{{ attributes.x }} {{ record.y }}"}
              - {path: properties.c, attribute: c, in: "{% for %}"}
              - {path: properties.d, attribute: d, in: "  "}
        """)
    f = str(path)
    assert problems(path) == [
        f"{f}:4:44: objects.contact.fields[0].in: template syntax error: expected token 'name', got 'end of print "
        "statement'",
        f"{f}:5:60: objects.contact.fields[1].out: 'record' is not defined here; a template here has attributes "
        "and value",
        f"{f}:6:44: objects.contact.fields[2].in: template syntax error: Expected an expression, got 'end of "
        "statement block'",
        f"{f}:7:44: objects.contact.fields[3].in: the template is empty",
    ]


def test_an_attribute_mapped_twice_in_one_object_and_a_path_written_twice(tmp_path):
    path = write(tmp_path, """\
        objects:
          contact:
            fields:
              - {path: properties.firstname, attribute: first_name}
              - {path: properties.nickname, attribute: first_name}
              - {path: properties.plan, attribute: plan, direction: out}
              - {path: properties.plan, attribute: tier, direction: two-way}
          company:
            fields:
              - {path: properties.name, attribute: first_name}
        """)
    f = str(path)
    assert problems(path) == [
        f"{f}:5:37: objects.contact.fields[1].attribute: attribute 'first_name' is already mapped by fields[0] "
        "of this contact",
        f"{f}:7:10: objects.contact.fields[3].path: fields[2] of this contact already writes properties.plan",
    ]


def test_sections_that_do_not_fit_the_bridge(tmp_path):
    cloud = write(tmp_path, """\
        events:
          identify: {}
        """)
    assert problems(cloud, "stripe") == [
        f"{cloud}:1:1: events: the stripe bridge pulls objects: it maps `objects:` (keyed by object type); "
        "`events:` is for the push bridges (redirect, tracking, webhook)"]
    push = write(tmp_path, """\
        events:
          identify:
            fields: [{path: properties.plan, attribute: plan, direction: two-way}]
        objects:
          customer: {}
        """)
    assert problems(push, "tracking") == [
        f"{push}:3:55: events.identify.fields[0].direction: events are only read: a tracking source has nothing "
        "to write back to; use direction: one-way",
        f"{push}:4:1: objects: the tracking bridge is a push source: it maps `events:` (keyed by event type), "
        "not `objects:`",
    ]


def test_keys_that_would_have_no_effect(tmp_path):
    path = write(tmp_path, """\
        objects:
          contact:
            fields:
              - {path: properties.a, attribute: a, direction: out, in: "{{ value }}", type: int}
              - {path: properties.b, attribute: b, out: "{{ value }}", conflict: local_wins}
        """)
    f = str(path)
    assert problems(path) == [
        f"{f}:4:60: objects.contact.fields[0].in: `in` has no effect on a field with direction: out (it reads "
        "nothing)",
        f"{f}:4:79: objects.contact.fields[0].type: `type` has no effect on a field with direction: out (it reads "
        "nothing)",
        f"{f}:5:44: objects.contact.fields[1].out: `out` has no effect on a one-way field (it writes nothing); "
        "give direction: two-way or out",
        f"{f}:5:64: objects.contact.fields[1].conflict: `conflict` applies only to two-way fields",
    ]


def test_write_rules_per_vendor(tmp_path):
    hubspot = write(tmp_path, """\
        objects:
          contact:
            fields:
              - {path: properties.hs_object_id, attribute: a, direction: two-way}
              - {path: properties.hs_analytics_source, attribute: b, direction: out}
              - {path: id, attribute: c, direction: out}
              - {path: properties.lifecyclestage, attribute: d, direction: two-way}
          deal:
            fields:
              - {path: properties.amount, attribute: e, direction: out}
        """)
    found = problems(hubspot)
    assert [p.split(": ", 2)[:2] for p in found] == [
        [f"{hubspot}:4:55", "objects.contact.fields[0].direction"],
        [f"{hubspot}:5:62", "objects.contact.fields[1].direction"],
        [f"{hubspot}:6:34", "objects.contact.fields[2].direction"],
        [f"{hubspot}:10:49", "objects.deal.fields[0].direction"],
    ]
    assert "properties.hs_object_id is read-only (the vendor sets it); writable: properties.<name> except" in found[0]
    assert "properties.hs_analytics_source is read-only" in found[1]
    assert "id cannot be written; writable: properties.<name> except createdate" in found[2]
    assert found[3].endswith("inlet does not write hubspot deal objects; writable: hubspot contact and company: "
                             "properties.<name> except createdate, hs_createdate, hs_email_domain, hs_email_optout, "
                             "hs_lastmodifieddate, hs_object_id, lastmodifieddate, notes_last_updated, "
                             "num_associated_contacts, hs_analytics_*")

    shopify = write(tmp_path, """\
        objects:
          customer:
            fields:
              - {path: metafields.custom.tier, attribute: tier, direction: two-way}
              - {path: metafields.custom.plan, attribute: plan, direction: out}
              - {path: displayName, attribute: name, direction: out}
              - {path: tags, attribute: tags, direction: two-way, type: list}
        """)
    found = problems(shopify, "shopify")
    assert found == [
        f"{shopify}:4:57: objects.customer.fields[0].direction: metafields.custom.tier can only be written with "
        "direction: out, because inlet's Shopify pull does not read metafields (a two-way field would never see "
        "the value in Shopify)",
        f"{shopify}:6:46: objects.customer.fields[2].direction: displayName cannot be written; writable: email, "
        "firstName, lastName, phone, note, tags, metafields.<namespace>.<key> (out only)",
    ]

    stripe = write(tmp_path, f"""\
        objects:
          customer:
            fields:
              - {{path: metadata.{"k" * 41}, attribute: a, direction: out}}
              - {{path: "metadata.a[b]", attribute: b, direction: out}}
              - {{path: metadata.{"k" * 40}, attribute: c, direction: two-way}}
              - {{path: address.city, attribute: d, direction: two-way}}
          charge:
            fields: [{{path: description, attribute: e, direction: out}}]
        """)
    found = problems(stripe, "stripe")
    assert len(found) == 4
    assert f"metadata.{'k' * 41} is not a valid metadata.<key> (a key of at most 40 characters" in found[0]
    assert "metadata.a[b] is not a valid metadata.<key>" in found[1]
    assert "address.city cannot be written; writable: email, name, phone, description, metadata.<key>" in found[2]
    assert "inlet does not write stripe charge objects; writable: stripe customer:" in found[3]


def test_writable_rules_are_data_the_writers_can_ask():
    assert can_write("hubspot", "company", "properties.domain")
    assert not can_write("hubspot", "company", "properties.hs_lastmodifieddate")
    assert can_write("shopify", "customer", "metafields.inlet.tier", "out")
    assert not can_write("shopify", "customer", "metafields.inlet.tier", "two-way")
    assert can_write("stripe", "customer", "metadata.plan")
    assert not can_write("stripe", "invoice", "description")


def test_files_that_are_not_mappings(tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text("objects:\n  contact: [\n")
    (only,) = problems(path)
    assert re.fullmatch(rf"{re.escape(str(path))}:3:1: invalid YAML: .+", only)
    path.write_text("")
    assert problems(path) == [f"{path}: the file is empty; a hubspot mapping has `objects:`"]
    path.write_text("- contact\n")
    assert problems(path) == [f"{path}:1:1: the top level must be a mapping with the key `objects:`"]
    path.write_text("objects:\n  contact: {}\n  contact: {fields: []}\n")
    assert problems(path) == [f"{path}:3:3: objects.contact: duplicate key 'contact'"]
    path.write_text("objects:\n  contact: {fields: {path: id}, identities: [email]}\n")
    assert problems(path) == [
        f"{path}:2:13: objects.contact.fields: must be a list of field entries",
        f"{path}:2:46: objects.contact.identities[0]: must be a mapping like {{kind: email, path: properties.email}}",
    ]
    assert problems(tmp_path / "missing.yaml") == [f"{tmp_path / 'missing.yaml'}: no such mapping file"]
    assert problems(default_mapping("hubspot"), "sftp") == [
        f"{default_mapping('hubspot')}: the sftp bridge takes no mapping; mappings are for hubspot, rest, shopify, "
        "stripe (objects) and redirect, tracking, webhook (events)"]


def test_the_python_name_of_in_is_not_a_key(tmp_path):
    path = write(tmp_path, 'objects:\n  contact:\n    fields: [{path: a, attribute: a, in_: "{{ value }}"}]\n')
    assert problems(path) == [f"{path}:3:38: objects.contact.fields[0].in_: unknown key 'in_'; valid keys: path, "
                              "attribute, direction, type, in, out, conflict"]


def test_objects_and_events_may_be_empty_or_bare(tmp_path):
    mapping = load_mapping(write(tmp_path, "objects:\n  contact:\n  deal: {identities: [], fields: []}\n"),
                           "hubspot")
    assert mapping.for_object("contact").fields == () and mapping.for_object("deal").identities == ()
    assert mapping.for_object("company") is None
