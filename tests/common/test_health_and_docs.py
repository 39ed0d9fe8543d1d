"""Probes, the OpenAPI schema and the documentation pages."""

import json
import re

import pytest

from tests.support.probe import python_probe

pytestmark = pytest.mark.django_db


def test_healthz_answers_200(api_client):
    response = api_client.get("/healthz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_answers_200_when_the_database_answers(api_client):
    response = api_client.get("/readyz")

    assert response.status_code == 200
    assert response.json()["status"] == "ok"


# A web process whose database refuses connections (nothing listens on port 1).
READYZ_WITHOUT_DATABASE = """
import logging
import django
django.setup()
from django.test import Client
records = []
handler = logging.Handler()
handler.emit = records.append
logging.getLogger("common.health").addHandler(handler)
response = Client().get("/readyz")
print(response.status_code)
print(response.content.decode())
print(any("127.0.0.1" in str(r.exc_info[1]) for r in records if r.exc_info))
"""


def test_readyz_without_a_database_says_unavailable_and_logs_why():
    status, body, logged = python_probe(
        READYZ_WITHOUT_DATABASE, DATABASE_URL="postgres://nobody:secret@127.0.0.1:1/auction"
    ).splitlines()

    assert status == "503"
    assert json.loads(body) == {"status": "unavailable"}
    assert logged == "True"


@pytest.fixture
def schema(api_client) -> dict:
    response = api_client.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return json.loads(response.content)


def test_the_schema_is_openapi_3(api_client, schema):
    yaml = api_client.get("/api/v1/schema")

    assert yaml.status_code == 200
    assert yaml.content.startswith(b"openapi: 3")
    assert schema["openapi"].startswith("3.")


def test_the_schema_documents_the_auction_paths(schema):
    paths = schema["paths"]

    assert {"get", "post"} <= set(paths["/api/v1/auctions"])
    assert "get" in paths["/api/v1/auctions/{auction_id}"]
    assert {"get", "post"} <= set(paths["/api/v1/auctions/{auction_id}/bids"])
    assert "get" in paths["/api/v1/auctions/{auction_id}/bids/{bid_id}"]


def test_the_schema_never_offers_to_change_an_auction_or_a_bid(schema):
    for path in ("/api/v1/auctions/{auction_id}", "/api/v1/auctions/{auction_id}/bids/{bid_id}"):
        assert not {"put", "patch", "delete"} & set(schema["paths"][path])


def test_the_bid_post_documents_every_answer_of_the_contract(schema):
    responses = schema["paths"]["/api/v1/auctions/{auction_id}/bids"]["post"]["responses"]

    assert {"201", "400", "401", "403", "404", "409"} <= set(responses)


def test_the_auction_post_documents_its_answers(schema):
    responses = schema["paths"]["/api/v1/auctions"]["post"]["responses"]

    assert {"201", "400", "401"} <= set(responses)


def test_the_list_documents_the_contracts_query_parameters(schema):
    parameters = schema["paths"]["/api/v1/auctions"]["get"]["parameters"]

    assert {"status", "search", "owner", "ordering", "page", "page_size"} <= {
        parameter["name"] for parameter in parameters
    }


RANDOM_TOKEN = re.compile(r'"[A-Za-z0-9]{32,}"')
ABSOLUTE_URL = re.compile(r"[a-z][a-z0-9+.-]*://|[\s\"'(=]//[a-z0-9-]+\.", re.IGNORECASE)
URL_ATTRIBUTE = re.compile(r"""(?:src|href|spec-url)\s*=\s*["']([^"']+)["']""")


@pytest.mark.parametrize("path", ["/api/v1/docs", "/api/v1/redoc"])
def test_the_docs_pages_load_no_cdn(api_client, path):
    response = api_client.get(path)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    # The Swagger page embeds a random CSRF token, whose letters may spell "cdn".
    page = RANDOM_TOKEN.sub('""', response.content.decode()).lower()
    for cdn in ("cdn", "jsdelivr", "unpkg"):
        assert cdn not in page
    assert ABSOLUTE_URL.findall(page) == []


@pytest.mark.parametrize("path", ["/api/v1/docs", "/api/v1/redoc"])
def test_the_docs_pages_reference_only_local_files_that_are_served(api_client, path):
    page = api_client.get(path).content.decode()
    urls = URL_ATTRIBUTE.findall(page)

    assert urls
    remote = [url for url in urls if not url.startswith("/") or url.startswith("//")]
    assert remote == [], f"{path} loads third-party resources: {remote}"
    for url in urls:
        if url.startswith("/static/"):
            assert api_client.get(url).status_code == 200, url
