"""Each auth kind of a `rest` source against the loopback API, and OAuth 2.0 client credentials in detail: the token
fetched once and reused, renewed before it expires, fetched again once after a 401, refusals named and redacted."""

from __future__ import annotations

import asyncio

import httpx
import pytest
import respx

from connectors.kit.errors import CredentialsRefused
from connectors.kit.oauth import ClientCredentials
from connectors.rest.connector import RestConnector
from connectors.rest.settings import RestSettings
from tests.rest_api import RestAPI

SECRET = "client-secret-0042"


def settings(api_url: str, auth: dict, **resource) -> RestSettings:
    return RestSettings.model_validate({
        "bridge": "rest", "base_url": api_url, "auth": auth, "rate_limit": {"requests": 500, "per": "1s"},
        "resources": {"contacts": {"path": "/cursor", "params": {"limit": 10}, "records": "results",
                                   "paginator": {"type": "cursor", "cursor": "paging.next.after", "param": "after"},
                                   **resource}}})


async def read_all(connector: RestConnector) -> list[str]:
    ids = []
    try:
        for stream in connector.streams():
            async for page in stream.read(None, full_refresh=False):
                ids += [r.external_id for r in page.records]
    finally:
        await connector.aclose()
    return ids


@pytest.mark.parametrize(("server", "config"), [
    (("basic", "ana", "pa55-word"), {"type": "basic", "username": "ana", "password": "pa55-word"}),
    (("header", "X-Api-Key", "k-123456"), {"type": "api_key", "name": "X-Api-Key", "value": "k-123456"}),
    (("query", "api_key", "k-654321"), {"type": "api_key", "name": "api_key", "value": "k-654321", "in": "query"}),
    (("bearer", "tok-abcdef"), {"type": "bearer", "token": "tok-abcdef"}),
    (("oauth", "inlet", SECRET), {"type": "oauth2_client_credentials", "token_url": "{url}/token",
                                  "client_id": "inlet", "client_secret": SECRET, "scope": "contacts.read"}),
], ids=["basic", "api_key_header", "api_key_query", "bearer", "oauth2"])
def test_each_auth_kind_reads_the_list_and_wrong_credentials_are_refused(server, config):
    with RestAPI(items=25, auth=server) as api:
        good = {k: v.replace("{url}", api.url) if isinstance(v, str) else v for k, v in config.items()}
        assert asyncio.run(read_all(RestConnector("api", settings(api.url, good)))) == [str(i) for i in range(1, 26)]
        secret_key = next(k for k in ("password", "value", "token", "client_secret") if k in good)
        wrong = {**good, secret_key: "wrong-" + good[secret_key]}
        with pytest.raises(CredentialsRefused) as refused:
            asyncio.run(read_all(RestConnector("api", settings(api.url, wrong))))
        assert "credentials of source 'api' were refused" in str(refused.value)
        assert wrong[secret_key] not in str(refused.value)


def test_oauth_token_is_reused_and_a_401_fetches_a_new_one_once():
    with RestAPI(items=25, auth=("oauth", "inlet", SECRET)) as api:
        auth = {"type": "oauth2_client_credentials", "token_url": f"{api.url}/token", "client_id": "inlet",
                "client_secret": SECRET}
        connector = RestConnector("api", settings(api.url, auth))

        async def run() -> list[str]:
            ids = []
            async for page in connector.streams()[0].read(None, full_refresh=False):
                ids += [r.external_id for r in page.records]
                if len(ids) == 10:
                    api.revoke()  # the token is refused from the next request on
            await connector.aclose()
            return ids

        assert asyncio.run(run()) == [str(i) for i in range(1, 26)]
        assert api.tokens_issued == 2  # one at the start, one after the 401


@respx.mock
def test_oauth_token_is_renewed_before_it_expires():
    now = [1000.0]
    issued = []

    def token(request: httpx.Request) -> httpx.Response:
        issued.append(request)
        return httpx.Response(200, json={"access_token": f"t{len(issued)}", "token_type": "bearer",
                                         "expires_in": 600})

    respx.post("https://auth.example.com/token").mock(side_effect=token)
    seen = []
    respx.get("https://api.example.com/x").mock(
        side_effect=lambda r: seen.append(r.headers["authorization"]) or httpx.Response(200, json={}))
    auth = ClientCredentials("https://auth.example.com/token", "inlet", SECRET, scope="a b", clock=lambda: now[0])

    async def calls(times: list[float]) -> None:
        async with httpx.AsyncClient(auth=auth) as client:
            for at in times:
                now[0] = at
                await client.get("https://api.example.com/x")

    # 600 s tokens are replaced 60 s early: at 1539 the first is still used, at 1541 a second is fetched
    asyncio.run(calls([1000.0, 1539.0, 1541.0, 1600.0]))
    assert seen == ["Bearer t1", "Bearer t1", "Bearer t2", "Bearer t2"]
    assert len(issued) == 2
    form = httpx.QueryParams(issued[0].content.decode())
    assert form["grant_type"] == "client_credentials" and form["scope"] == "a b"
    assert issued[0].headers["authorization"].startswith("Basic ")
    assert SECRET not in issued[0].content.decode()  # client_auth basic: the secret is not in the body


@respx.mock
def test_oauth_a_second_401_is_the_answer_and_a_refusing_token_endpoint_is_named():
    respx.post("https://auth.example.com/token").mock(side_effect=[
        httpx.Response(200, json={"access_token": "t1", "token_type": "bearer"}),
        httpx.Response(200, json={"access_token": "t2", "token_type": "bearer"}),
        httpx.Response(400, json={"error": "invalid_client", "error_description": "client disabled"}),
    ])
    api = respx.get("https://api.example.com/x").mock(return_value=httpx.Response(401, json={"message": "no"}))
    auth = ClientCredentials("https://auth.example.com/token", "inlet", SECRET, client_auth="body")

    async def get() -> httpx.Response:
        async with httpx.AsyncClient(auth=auth) as client:
            return await client.get("https://api.example.com/x")

    assert asyncio.run(get()).status_code == 401
    assert api.call_count == 2  # the request, and once more with a new token
    with pytest.raises(CredentialsRefused, match=r"the token endpoint https://auth\.example\.com/token refused "
                                                 r"client_id 'inlet' .*invalid_client: client disabled"):
        asyncio.run(get())
    assert SECRET in auth.secrets and "t2" in auth.secrets
