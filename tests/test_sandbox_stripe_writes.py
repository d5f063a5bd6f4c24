"""The Stripe sandbox's writes: form-encoded customer writes, idempotent replays, and the deletes Stripe allows
(customers, products without prices, one-off draft invoices; prices only from the Dashboard)."""

from __future__ import annotations

import pytest

from sandbox.stripe import StripeSandbox
from sandbox.stripe.errors import StripeError
from tests.test_sandbox_stripe import Clock, api, error, walk


async def test_update_customer_with_form_metadata_set_and_unset():
    sb = StripeSandbox(seed=9, customers=5, now=Clock())
    customer = sb.collections["customers"].index.items[0]
    path = f"/v1/customers/{customer['id']}"
    async with api(sb) as client:
        r = await client.post(path, data={"email": "jane@x.com", "name": "Jane", "metadata[crm_id]": "42",
                                          "metadata[old_key]": "gone soon"})
        assert r.status_code == 200
        assert r.json()["email"] == "jane@x.com" and r.json()["metadata"]["crm_id"] == "42"
        r = await client.post(path, data={"metadata[old_key]": "", "phone": ""})
        assert "old_key" not in r.json()["metadata"] and r.json()["phone"] is None
        event = (await client.get("/v1/events", params={"type": "customer.updated", "limit": 1})).json()["data"][0]
        assert event["data"]["previous_attributes"]["metadata"] == {"old_key": "gone soon"}
        assert event["request"]["id"] == r.headers["request-id"]
        r = await client.post(path, data={"metadata": ""})
        assert r.json()["metadata"] == {}
        r = await client.post(path, data={"notaparameter": "1"})
        assert r.status_code == 400 and error(r)["code"] == "parameter_unknown"
        assert error(r)["param"] == "notaparameter"
        for field, size in (("email", 513), ("name", 257), ("phone", 21), ("description", 5001)):
            r = await client.post(path, data={field: "a" * (size - 9) + "@x.com123"})
            assert r.status_code == 400 and error(r)["param"] == field, field
        r = await client.post(path, data={f"metadata[{'k' * 41}]": "v"})
        assert r.status_code == 400
        r = await client.post(path, data={"email": "not-an-email"})
        assert r.status_code == 400 and error(r)["code"] == "email_invalid"
        r = await client.post("/v1/customers/cus_missing", data={"name": "x"})
        assert r.status_code == 404


async def test_create_and_delete_customer():
    sb = StripeSandbox(seed=10, customers=5, subscriptions=5, now=Clock())
    async with api(sb) as client:
        r = await client.post("/v1/customers", data={"email": "new@example.com", "metadata[src]": "crm"})
        assert r.status_code == 200
        created = r.json()
        assert created["id"].startswith("cus_") and created["metadata"] == {"src": "crm"}
        listed = (await client.get("/v1/customers", params={"limit": 1})).json()["data"]
        assert listed == [created]
        victim = sb.collections["subscriptions"].index.items[0]["customer"]
        r = await client.delete(f"/v1/customers/{victim}")
        assert r.status_code == 200 and r.json() == {"id": victim, "object": "customer", "deleted": True}
        assert (await client.get(f"/v1/customers/{victim}")).json()["deleted"] is True
        assert victim not in {c["id"] for c in await walk(client, "/v1/customers")}
        subs = await walk(client, "/v1/subscriptions", customer=victim, status="all")
        assert subs and all(s["status"] == "canceled" for s in subs)
        event = (await client.get("/v1/events", params={"type": "customer.deleted"})).json()["data"][0]
        assert event["data"]["object"]["id"] == victim and "deleted" not in event["data"]["object"]
        assert event["request"]["id"] == r.headers["request-id"]
        assert (await client.delete(f"/v1/customers/{victim}")).status_code == 404


async def test_idempotent_posts_replay_and_refuse_other_parameters():
    clock = Clock()
    sb = StripeSandbox(seed=12, customers=2, now=clock)
    async with api(sb) as client:
        headers = {"Idempotency-Key": "KG5LxwFBepaKHyUD"}
        first = await client.post("/v1/customers", data={"name": "Once"}, headers=headers)
        again = await client.post("/v1/customers", data={"name": "Once"}, headers=headers)
        assert again.status_code == 200 and again.content == first.content
        assert again.headers["idempotent-replayed"] == "true" and "idempotent-replayed" not in first.headers
        assert len(sb.collections["customers"].index) == 3
        other = await client.post("/v1/customers", data={"name": "Twice"}, headers=headers)
        assert other.status_code == 400
        assert other.json() == {"error": {
            "message": "Keys for idempotent requests can only be used with the same parameters they were first used "
                       "with. Try using a key other than 'KG5LxwFBepaKHyUD' if you meant to execute a different "
                       "request.", "type": "idempotency_error"}}
        clock.advance(24 * 3600 + 1)
        fresh = await client.post("/v1/customers", data={"name": "Twice"}, headers=headers)
        assert fresh.status_code == 200 and "idempotent-replayed" not in fresh.headers
        bad = await client.post("/v1/customers", data={"bogus": "1"}, headers={"Idempotency-Key": "v1"})
        assert bad.status_code == 400
        good = await client.post("/v1/customers", data={"name": "Ok"}, headers={"Idempotency-Key": "v1"})
        assert good.status_code == 200  # the validation failure was not stored
        missing = await client.post("/v1/customers/cus_nope", data={"name": "x"}, headers={"Idempotency-Key": "m"})
        replay = await client.post("/v1/customers/cus_nope", data={"name": "x"}, headers={"Idempotency-Key": "m"})
        assert missing.status_code == replay.status_code == 404 and replay.headers["idempotent-replayed"] == "true"


# -- deletes -------------------------------------------------------------------------------------------------------

def unpriced(sb: StripeSandbox) -> list[dict]:
    priced = {p["product"] for p in sb.collections["prices"].by_id.values()}
    return [p for p in sb.collections["products"].index.items if p["id"] not in priced]


async def test_delete_product_only_without_prices():
    sb = StripeSandbox(seed=15, customers=10, now=Clock())
    bare = unpriced(sb)
    assert len(bare) == 2 and all(p["default_price"] is None for p in bare)
    product, priced = bare[0], sb.collections["products"].index.items[0]
    async with api(sb, rate_limit=False) as client:
        r = await client.delete(f"/v1/products/{priced['id']}")
        assert r.status_code == 400 and error(r)["type"] == "invalid_request_error"
        assert "price" in error(r)["message"]
        assert (await client.get(f"/v1/products/{priced['id']}")).json() == priced
        r = await client.delete(f"/v1/products/{product['id']}")
        assert r.status_code == 200 and r.json() == {"id": product["id"], "object": "product", "deleted": True}
        gone = await client.get(f"/v1/products/{product['id']}")
        assert gone.status_code == 404 and error(gone)["code"] == "resource_missing"
        assert error(gone)["message"] == f"No such product: '{product['id']}'"
        listed = {p["id"] for p in await walk(client, "/v1/products", limit=100)}
        assert product["id"] not in listed and priced["id"] in listed and len(listed) == 5 + 2 - 1
        events = (await client.get("/v1/events", params={"types[]": ["product.deleted"]})).json()["data"]
        assert len(events) == 1 and events[0]["data"]["object"] == product  # the last state, no `deleted`
        assert events[0]["request"]["id"] == r.headers["request-id"]
        again = await client.delete(f"/v1/products/{product['id']}")
        assert again.status_code == 404 and error(again)["code"] == "resource_missing"


async def test_delete_invoice_only_one_off_drafts():
    sb = StripeSandbox(seed=16, customers=20, now=Clock())
    created = sb.mutate(invoice_creates=2)
    assert [e.type for e in created] == ["invoice.created"] * 2
    draft, other = created[0].object, created[1].object
    assert draft["status"] == "draft" and draft["subscription"] is None and draft["number"] is None
    paid = next(i for i in sb.collections["invoices"].index.items if i["status"] == "paid")
    async with api(sb, rate_limit=False) as client:
        assert (await client.get(f"/v1/invoices/{draft['id']}")).json() == draft
        r = await client.delete(f"/v1/invoices/{paid['id']}")
        assert r.status_code == 400 and error(r)["type"] == "invalid_request_error"
        assert "draft" in error(r)["message"] and "void" in error(r)["message"].lower()
        assert (await client.get(f"/v1/invoices/{paid['id']}")).json() == paid
        sb.collections["invoices"].replace({**paid, "status": "draft"})  # a subscription's draft: void it instead
        r = await client.delete(f"/v1/invoices/{paid['id']}")
        assert r.status_code == 400 and "subscription" in error(r)["message"]
        r = await client.delete(f"/v1/invoices/{draft['id']}")
        assert r.status_code == 200 and r.json() == {"id": draft["id"], "object": "invoice", "deleted": True}
        gone = await client.get(f"/v1/invoices/{draft['id']}")
        assert gone.status_code == 404 and error(gone)["message"] == f"No such invoice: '{draft['id']}'"
        for params in ({"limit": 100}, {"customer": draft["customer"]}, {"status": "draft"}):
            assert draft["id"] not in {i["id"] for i in await walk(client, "/v1/invoices", **params)}, params
        drafts = await walk(client, "/v1/invoices", status="draft")
        assert {i["id"] for i in drafts} == {other["id"], paid["id"]}
        events = (await client.get("/v1/events", params={"types[]": ["invoice.deleted"]})).json()["data"]
        assert len(events) == 1 and events[0]["data"]["object"] == draft
        assert (await client.delete(f"/v1/invoices/{draft['id']}")).status_code == 404


async def test_prices_cannot_be_deleted_over_the_api_but_the_dashboard_can():
    sb = StripeSandbox(seed=17, customers=20, now=Clock())
    product = sb.collections["products"].index.items[0]
    default = sb.collections["prices"].by_id[product["default_price"]]
    once = next(p for p in sb.collections["prices"].index.items
                if p["product"] == product["id"] and p["type"] == "one_time")
    async with api(sb, rate_limit=False) as client:
        r = await client.delete(f"/v1/prices/{once['id']}")
        assert r.status_code == 404 and f"(DELETE: /v1/prices/{once['id']})" in error(r)["message"]
        for refused in (sb.archive_price, sb.delete_price):  # a default price (also on subscriptions) stays
            with pytest.raises(StripeError) as caught:
                refused(default["id"])
            assert caught.value.status == 400
        archived = sb.archive_price(once["id"])
        assert archived["active"] is False and sb.archive_price(once["id"]) == archived  # the no-op has no event
        assert (await client.get(f"/v1/prices/{once['id']}")).json() == archived
        assert [p["id"] for p in await walk(client, "/v1/prices", active="false")] == [once["id"]]
        updated = (await client.get("/v1/events", params={"type": "price.updated"})).json()["data"]
        assert len(updated) == 1 and updated[0]["data"]["previous_attributes"] == {"active": True}
        assert updated[0]["data"]["object"] == archived
        assert sb.delete_price(once["id"]) == {"id": once["id"], "object": "price", "deleted": True}
        gone = await client.get(f"/v1/prices/{once['id']}")
        assert gone.status_code == 404 and error(gone)["message"] == f"No such price: '{once['id']}'"
        assert once["id"] not in {p["id"] for p in await walk(client, "/v1/prices", limit=100)}
        deleted = (await client.get("/v1/events", params={"types[]": ["price.deleted"]})).json()["data"]
        assert len(deleted) == 1 and deleted[0]["data"]["object"] == archived
        with pytest.raises(StripeError) as caught:
            sb.delete_price(once["id"])
        assert caught.value.status == 404 and caught.value.code == "resource_missing"


async def test_mutate_creates_and_deletes_products_prices_and_drafts():
    clock = Clock()
    sb = StripeSandbox(seed=18, customers=50, now=clock)
    assert sb.mutate(5, 1, 1)  # the positional form still works
    clock.advance(3600)
    since = int(clock.t)
    first = sb.mutate(product_deletes=5, invoice_deletes=2, price_deletes=2)
    # No seeded drafts: the two it deletes are created first. Only the two unpriced products can go.
    assert [e.type for e in first] == ["invoice.created"] * 2 + ["price.deleted"] * 2 + ["product.deleted"] * 2 \
        + ["invoice.deleted"] * 2
    assert {e.object["id"] for e in first if e.type == "invoice.created"} \
        == {e.object["id"] for e in first if e.type == "invoice.deleted"}
    assert all(e.object["type"] == "one_time" for e in first if e.type == "price.deleted")
    assert not unpriced(sb) and not sb.mutate(product_deletes=1)
    second = sb.mutate(product_creates=2, price_creates=1, invoice_creates=3, product_deletes=1, invoice_deletes=1)
    assert [e.type for e in second] == ["product.created"] * 2 + ["price.created"] + ["invoice.created"] * 3 \
        + ["product.deleted", "invoice.deleted"]
    new_products = {e.object["id"] for e in second if e.type == "product.created"}
    assert all(e.object["created"] == since and e.object["default_price"] is None
               for e in second if e.type == "product.created")
    assert second[-2].object["id"] in new_products and second[-2].object["id"] != second[2].object["product"]
    deleted = {e.type.split(".")[0]: [] for e in first + second if e.type.endswith(".deleted")}
    for e in first + second:
        if e.type.endswith(".deleted"):
            deleted[e.type.split(".")[0]].append(e.object["id"])
    async with api(sb, rate_limit=False) as client:
        kinds = [f"{kind}.{verb}" for kind in ("product", "price", "invoice") for verb in ("created", "deleted")]
        listed = await walk(client, "/v1/events", **{"types[]": kinds, "created[gte]": since}, limit=100)
        assert [e["id"] for e in listed] == [e.id for e in reversed(first + second)]
        for kind, ids in deleted.items():
            remaining = {o["id"] for o in await walk(client, f"/v1/{kind}s", limit=100)}
            assert ids and not remaining & set(ids), kind
            for object_id in ids:
                assert (await client.get(f"/v1/{kind}s/{object_id}")).status_code == 404
        products = {p["id"] for p in await walk(client, "/v1/products", limit=100)}
        assert len(products) == 5 + 2 - 2 + 2 - 1 and new_products - products == {second[-2].object["id"]}
        drafts = await walk(client, "/v1/invoices", status="draft", limit=100)
        assert len(drafts) == 2 and all(d["lines"]["data"][0]["type"] == "invoiceitem" for d in drafts)


# -- rate limiting -------------------------------------------------------------------------------------------------
