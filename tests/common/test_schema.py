"""The OpenAPI schema tells the truth: who may call, what comes back, what is accepted."""

import re

import jsonschema_rs
import pytest

from tests.common.assertions import assert_problem

PUBLIC_READS = [
    "/api/v1/auctions",
    "/api/v1/auctions/{auction_id}",
    "/api/v1/auctions/{auction_id}/bids",
    "/api/v1/auctions/{auction_id}/bids/{bid_id}",
    "/api/v1/meta",
]
PAGINATED = [
    "/api/v1/auctions",
    "/api/v1/auctions/{auction_id}/bids",
    "/api/v1/me/auctions",
    "/api/v1/me/bids",
    "/api/v1/me/notifications",
    "/api/v1/me/participating",
    "/api/v1/me/watchlist",
]


@pytest.fixture
def schema(api_client) -> dict:
    response = api_client.get("/api/v1/schema", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    return response.json()


def operations(schema: dict):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method, operation


def component(schema: dict, name: str) -> dict:
    return schema["components"]["schemas"][name]


@pytest.mark.parametrize("path", PUBLIC_READS)
def test_public_reads_need_no_token_in_the_schema(schema, path):
    security = schema["paths"][path]["get"]["security"]

    assert {} in security
    assert {"bearer": []} in security


@pytest.mark.parametrize(
    ("path", "method"),
    [("/api/v1/auctions", "post"), ("/api/v1/auctions/{auction_id}/bids", "post")],
)
def test_writes_need_a_token_in_the_schema(schema, path, method):
    assert schema["paths"][path][method]["security"] == [{"bearer": []}]


@pytest.mark.parametrize("path", ["/api/v1/me", "/api/v1/me/auctions", "/api/v1/me/bids"])
def test_a_members_reads_need_a_token_in_the_schema(schema, path):
    assert schema["paths"][path]["get"]["security"] == [{"bearer": []}]


def test_every_operation_documents_the_http_servers_414_and_431(schema):
    for path, method, operation in operations(schema):
        for code in ("414", "431"):
            assert "text/html" in operation["responses"][code]["content"], (path, method, code)


def test_every_operation_with_a_token_documents_401(schema):
    for path, method, operation in operations(schema):
        if {"bearer": []} in operation.get("security", []):
            assert "401" in operation["responses"], (path, method)


def test_every_operation_with_a_body_documents_400_413_and_415_as_problems(schema):
    for path, method, operation in operations(schema):
        if "requestBody" in operation:
            for code in ("400", "413", "415"):
                content = operation["responses"][code]["content"]
                assert "application/problem+json" in content, (path, method, code)


@pytest.mark.parametrize("path", PAGINATED)
def test_paginated_lists_document_a_page_past_the_last_and_positive_page_numbers(schema, path):
    operation = schema["paths"][path]["get"]
    parameters = {p["name"]: p["schema"] for p in operation["parameters"]}

    assert {"400", "404"} <= set(operation["responses"])
    assert parameters["page"] == {"type": "integer", "minimum": 1}
    assert parameters["page_size"] == {"type": "integer", "minimum": 1}


@pytest.mark.parametrize(
    ("path", "method"), [("/api/v1/auth/register", "post"), ("/api/v1/auth/token", "post")]
)
def test_throttled_operations_document_429(schema, path, method):
    assert "429" in schema["paths"][path][method]["responses"]


def test_an_unthrottled_operation_does_not_promise_429(schema):
    assert "429" not in schema["paths"]["/api/v1/auctions"]["get"]["responses"]


def test_registration_states_the_username_and_password_rules(schema):
    properties = component(schema, "RegisterInputRequest")["properties"]
    username, password = properties["username"], properties["password"]

    assert username["maxLength"] == 150
    assert re.fullmatch(username["pattern"], "alice.b+c@d-e_f")
    assert not re.search(username["pattern"], "alice smith")
    assert password["minLength"] == 8
    assert password["maxLength"] == 4096
    assert not re.search(password["pattern"], "12345678")  # entirely numeric
    assert not re.search(password["pattern"], "abc\x00defgh")
    assert re.search(password["pattern"], "correct horse 42")


def test_a_password_the_schema_refuses_is_refused_by_the_service(api_client, schema):
    password = component(schema, "RegisterInputRequest")["properties"]["password"]
    for candidate in ("x7Qp!", "93847562019"):
        assert len(candidate) < password["minLength"] or not re.search(
            password["pattern"], candidate
        )
        response = api_client.post(
            "/api/v1/auth/register",
            {"username": "zed", "email": "zed@example.com", "password": candidate},
            format="json",
        )
        assert_problem(response, 400, "weak_password")


def test_money_inputs_state_their_exact_form(schema):
    auction = component(schema, "AuctionCreateInputRequest")["properties"]
    step = auction["price_step"]["pattern"]
    start = auction["starting_price"]["pattern"]

    for accepted in ("1", "0.01", "105.5", "9999999999.99", "0.5"):
        assert re.search(step, accepted), accepted
    for refused in ("", "0", "0.00", "-1", "1.234", "12345678901", "."):
        assert not re.search(step, refused), refused
    assert re.search(start, "0")
    assert not re.search(start, "-0.01")
    assert not re.search(start, "")


def test_text_fields_and_query_strings_refuse_nul_in_the_schema(schema):
    title = component(schema, "AuctionCreateInputRequest")["properties"]["title"]
    parameters = {
        p["name"]: p["schema"] for p in schema["paths"]["/api/v1/auctions"]["get"]["parameters"]
    }

    for field in (title, parameters["search"], parameters["owner"]):
        assert re.search(field["pattern"], "vase")
        assert not re.search(field["pattern"], "va\x00se")


def test_nul_in_a_query_string_is_400_as_the_schema_says(api_client):
    response = api_client.get("/api/v1/auctions", {"search": "va\x00se"})

    assert_problem(response, 400, "validation_error")


@pytest.mark.parametrize("token", [0, 12.5, True, ["abc"]])
def test_a_token_that_is_not_a_string_is_400_as_the_schema_says(api_client, token):
    response = api_client.post("/api/v1/auth/token/revoke", {"token": token}, format="json")

    body = assert_problem(response, 400, "validation_error")
    assert "token" in body["errors"]


def test_a_token_over_its_max_length_is_400_even_with_spaces_around(api_client, schema):
    field = component(schema, "TokenRevokeInputRequest")["properties"]["token"]
    token = "    " + "x" * (field["maxLength"] - 3)  # too long as sent, not once trimmed

    response = api_client.post("/api/v1/auth/token/revoke", {"token": token}, format="json")

    body = assert_problem(response, 400, "validation_error")
    assert "token" in body["errors"]


def test_a_text_the_service_trims_to_nothing_is_refused_by_the_schema_too(api_client, schema):
    # Validated as OpenAPI tools validate it (ECMA-262 regexes): `\s` would not do.
    field = component(schema, "AuctionCreateInputRequest")["properties"]["title"]
    validator = jsonschema_rs.validator_for({k: field[k] for k in ("type", "pattern")})

    for blank in (" ", "\x1c\x1f", "\u3000\u2028", "\x85\t"):
        assert not validator.is_valid(blank), repr(blank)
    assert validator.is_valid("\ufeffVase")  # not whitespace to Python: kept, and accepted


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/v1/auctions", "/api/v1/me/auctions"])
@pytest.mark.parametrize("ordering", ["", ",", ",end_time", "end_time,,"])
def test_an_empty_ordering_item_is_inside_the_schema_and_accepted(
    schema, client_for, path, ordering
):
    (parameter,) = [
        p for p in schema["paths"][path]["get"]["parameters"] if p["name"] == "ordering"
    ]

    assert "" in parameter["schema"]["items"]["enum"]
    assert client_for("alice").get(path, {"ordering": ordering}).status_code == 200
