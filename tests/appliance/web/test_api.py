"""The JSON API and its OpenAPI document."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from openapi_spec_validator import validate

from appliance.core import Core
from appliance.identity.model import Person
from appliance.web.api_routes import API_TABLES_KEY, Operation
from tests.appliance.web.conftest import ClientFactory, api_login, login_as
from tests.conftest import SCHOOL_UAI


async def test_openapi_document_is_valid_and_lists_every_route(
    client: TestClient[Any, Any],
) -> None:
    response = await client.get("/api/v1/openapi.json")
    assert response.status == 200
    document = await response.json()
    validate(document)
    served = {
        (route.method.lower(), route.resource.canonical)  # type: ignore[union-attr]
        for route in client.app.router.routes()  # type: ignore[union-attr]
        if route.resource is not None
        and route.resource.canonical.startswith("/api/v1")
        and route.method != "HEAD"
    }
    documented = {(method, path) for path, item in document["paths"].items() for method in item}
    assert served == documented
    assert len(_operations(client)) == len(documented)


def _operations(client: TestClient[Any, Any]) -> list[Operation]:
    return [op for table in client.app[API_TABLES_KEY] for op in table.operations]  # type: ignore[index]


def _concrete(path: str) -> str:
    """Fill a path's parameters with a harmless value."""
    return "/api/v1" + "/".join("x" if part.startswith("{") else part for part in path.split("/"))


async def test_document_shows_each_routes_body_and_roles(client: TestClient[Any, Any]) -> None:
    """The document is generated from the handlers' own declarations (issue #12)."""
    document = await (await client.get("/api/v1/openapi.json")).json()
    for op in _operations(client):
        entry = document["paths"]["/api/v1" + op.path][op.method]
        if op.body is None:
            assert "requestBody" not in entry, op.path
        else:
            schema = entry["requestBody"]["content"]["application/json"]["schema"]
            assert schema["$ref"].endswith("/" + op.body.__name__), op.path
            assert "422" in entry["responses"], op.path
        if op.roles is None:
            assert "security" not in entry, op.path
        else:
            assert entry["x-roles"] == list(op.roles), op.path
            assert "401" in entry["responses"], op.path


async def test_every_protected_route_refuses_a_stranger(client: TestClient[Any, Any]) -> None:
    """Each operation that declares roles answers 401 to a request without a session."""
    for op in _operations(client):
        if op.roles is None:
            continue
        response = await client.request(op.method.upper(), _concrete(op.path))
        assert response.status in (401, 403), (op.method, op.path, response.status)


async def test_every_body_the_schema_rejects_gets_422(client: TestClient[Any, Any]) -> None:
    """A body with an unknown key is refused by every operation that takes one, before it runs."""
    token = await api_login(client, "referent")
    checked = 0
    for op in _operations(client):
        if op.body is None or op.roles is None or "referent" not in op.roles:
            continue
        response = await client.request(
            op.method.upper(),
            _concrete(op.path),
            json={"surely_not_a_key": 1},
            headers={"X-CSRF-Token": token},
        )
        assert response.status == 422, (op.method, op.path, response.status)
        assert "surely_not_a_key" in (await response.json())["error"]["message"]
        checked += 1
    assert checked >= 10


async def test_invalid_body_names_the_key(client: TestClient[Any, Any]) -> None:
    token = await api_login(client, "referent")
    response = await client.post(
        "/api/v1/calendar/closed-days",
        json={"day": "2027-02-30", "reason": "x", "extra": 1},
        headers={"X-CSRF-Token": token},
    )
    assert response.status == 422
    message = (await response.json())["error"]["message"]
    assert "day" in message
    assert "extra" in message
    response = await client.post(
        "/api/v1/calendar/closed-days",
        data=b"{not json",
        headers={"X-CSRF-Token": token, "Content-Type": "application/json"},
    )
    assert response.status == 400


async def test_errors_are_said_in_the_language_the_reader_chose(
    client: TestClient[Any, Any],
) -> None:
    # Issue #12 scope 6: API errors are translated, pydantic's problems included.
    token = await api_login(client, "referent")
    headers = {"X-CSRF-Token": token}
    body = {"day": "2027-02-30", "reason": "x", "extra": 1}
    french = await client.post("/api/v1/calendar/closed-days", json=body, headers=headers)
    assert (await french.json())["error"]["message"] == (
        "day : une date AAAA-MM-JJ est attendue; extra : clé inconnue (mal orthographiée ?)"
    )
    english = await client.post("/api/v1/calendar/closed-days?lang=en", json=body, headers=headers)
    assert english.status == 422
    assert (await english.json())["error"] == {
        "code": "invalid",
        "message": "day: a date YYYY-MM-DD is expected; extra: unknown key (misspelt?)",
    }
    # The choice stays (a cookie): a refusal raised deep in a feature, with its values.
    foreign = await client.post(
        "/api/v1/delegations",
        json={"person_id": "prof", "role": "referent", "school_uai": "0999999Z"},
        headers=headers,
    )
    assert (await foreign.json())["error"]["message"] == (
        "school_uai: 0999999Z is not a school of this site"
    )
    missing = await client.delete("/api/v1/filter/overrides/999", headers=headers)
    assert (await missing.json())["error"] == {
        "code": "absent",
        "message": "No filtering override in force with this number.",
    }
    refused = await client.post(
        "/api/v1/filter/overrides",
        json={"target_kind": "group", "target": "nowhere", "action": "block_all", "minutes": 5},
        headers=headers,
    )
    assert (await refused.json())["error"]["message"] == "target: no group named “nowhere”"
    # The anti-forgery refusal too, and the way back to French.
    forged = await client.post("/api/v1/calendar/closed-days", json=body)
    assert (await forged.json())["error"]["message"] == (
        "Request refused (anti-forgery protection): missing or invalid token"
    )
    back = await client.post("/api/v1/calendar/closed-days?lang=fr", json=body, headers=headers)
    assert "clé inconnue" in (await back.json())["error"]["message"]


async def test_closed_days_round_trip_and_audit(client: TestClient[Any, Any], core: Core) -> None:
    token = await api_login(client, "referent")
    headers = {"X-CSRF-Token": token}
    created = await client.post(
        "/api/v1/calendar/closed-days",
        json={"day": "2027-05-07", "reason": "Pont"},
        headers=headers,
    )
    assert created.status == 201
    again = await client.post(
        "/api/v1/calendar/closed-days",
        json={"day": "2027-05-07", "reason": "Pont"},
        headers=headers,
    )
    assert again.status == 200
    listed = await client.get("/api/v1/calendar/closed-days")
    assert (await listed.json())["closed_days"] == [{"day": "2027-05-07", "reason": "Pont"}]
    removed = await client.delete("/api/v1/calendar/closed-days/2027-05-07", headers=headers)
    assert removed.status == 200
    missing = await client.delete("/api/v1/calendar/closed-days/2027-05-07", headers=headers)
    assert missing.status == 404
    actions = [entry["action"] for entry in await core.audit.recent(10)]
    assert "calendar.closed_day.add" in actions
    assert "calendar.closed_day.remove" in actions


async def test_delegation_is_per_school(client: TestClient[Any, Any], core: Core) -> None:
    # #5.25: a referent delegates the referent role for their own school only.
    token = await api_login(client, "referent")
    headers = {"X-CSRF-Token": token}
    granted = await client.post(
        "/api/v1/delegations",
        json={"person_id": "prof", "role": "referent", "school_uai": SCHOOL_UAI},
        headers=headers,
    )
    assert granted.status == 201
    foreign = await client.post(
        "/api/v1/delegations",
        json={"person_id": "prof", "role": "referent", "school_uai": "0999999Z"},
        headers=headers,
    )
    assert foreign.status == 422
    # The teacher now logs in as referent of the school.
    teacher = await client.post(
        "/api/v1/session", json={"login": "prof", "password": "teacher-password-1"}
    )
    assert (await teacher.json())["role"] == "referent"
    token = await api_login(client, "referent")
    withdrawn = await client.delete(
        f"/api/v1/delegations/prof/referent/{SCHOOL_UAI}", headers={"X-CSRF-Token": token}
    )
    assert withdrawn.status == 200
    teacher = await client.post(
        "/api/v1/session", json={"login": "prof", "password": "teacher-password-1"}
    )
    assert (await teacher.json())["role"] == "teacher"


async def test_me_returns_only_table_9_fields(client: TestClient[Any, Any]) -> None:
    await api_login(client, "eleve")
    response = await client.get("/api/v1/me")
    body = await response.json()
    assert body["role"] == "pupil"
    assert body["class_name"] == "6A"
    assert set(body) <= {
        "id",
        "source",
        "display_name",
        "role",
        "school_uai",
        "given_name",
        "surname",
        "class_name",
        "level",
        "groups",
        "teaches",
    }
    assert body["teaches"] == []
    await login_as(client, "prof")
    assert (await (await client.get("/api/v1/me")).json())["teaches"] == ["6A"]


async def test_the_referent_gives_a_teacher_classes(
    client: TestClient[Any, Any], core: Core
) -> None:
    # Issue #13 scope 1: links from the referent's edits, besides the directory's.
    await core.directory.add_local_person(
        Person("eleve5b", "local", "E", "pupil", SCHOOL_UAI, class_name="5B"), "pupil-password-2"
    )
    token = await api_login(client, "referent")
    headers = {"X-CSRF-Token": token}
    unknown = await client.put(
        "/api/v1/people/prof/classes", json={"classes": ["5B", "6Z"]}, headers=headers
    )
    assert unknown.status == 422
    assert "6Z" in (await unknown.json())["error"]["message"]
    nobody = await client.put(
        "/api/v1/people/personne/classes", json={"classes": []}, headers=headers
    )
    assert nobody.status == 422
    done = await client.put(
        "/api/v1/people/prof/classes", json={"classes": ["5B", "6A"]}, headers=headers
    )
    assert await done.json() == {"person_id": "prof", "classes": ["5B", "6A"]}
    listed = (await (await client.get("/api/v1/teaching")).json())["teaching"]
    assert [(t["person_id"], t["class_name"], t["source"]) for t in listed] == [
        ("prof", "5B", "local"),
        ("prof", "6A", "local"),
    ]
    assert ("referent", "teaching.set") in [
        (e["actor"], e["action"]) for e in await core.audit.recent(5)
    ]
    # The teacher can now act on 5B; a teacher cannot change the links.
    token = await login_as(client, "prof")
    cut = await client.post(
        "/api/v1/filter/overrides",
        json={"target_kind": "class", "target": "5B", "action": "block_all", "minutes": 5},
        headers={"X-CSRF-Token": token},
    )
    assert cut.status == 201
    mine = await client.put(
        "/api/v1/people/prof/classes", json={"classes": ["3A"]}, headers={"X-CSRF-Token": token}
    )
    assert mine.status == 403


async def test_query_strings_are_declared_documented_and_checked(
    client: TestClient[Any, Any],
) -> None:
    """A route that reads a query string declares it: documented, and a bad one gets 422."""
    document = await (await client.get("/api/v1/openapi.json")).json()
    for op in _operations(client):
        if "?" in op.summary:
            assert op.query is not None, (op.method, op.path)
        if op.query is None:
            continue
        entry = document["paths"]["/api/v1" + op.path][op.method]
        documented = {p["name"] for p in entry["parameters"] if p["in"] == "query"}
        expected = {field.alias or name for name, field in op.query.model_fields.items()}
        assert documented == expected, op.path
    await api_login(client, "referent")
    for path, needle in [
        ("/api/v1/audit?limit=beaucoup", "limit"),
        ("/api/v1/audit?limit=9999", "au plus 500"),
        ("/api/v1/filter/explain?group=college", "domain : obligatoire"),
        ("/api/v1/portal/usage?from=hier", "from"),
    ]:
        response = await client.get(path)
        assert response.status == 422, path
        assert needle in (await response.json())["error"]["message"], path
    assert (await client.get("/api/v1/audit?limit=5&_=123")).status == 200


# Query strings a route needs to answer at all.
SAMPLE_QUERIES: dict[str, dict[str, str]] = {
    "/filter/explain": {"domain": "exemple.fr", "group": "college"},
}


async def test_every_declared_answer_is_what_the_handler_sends(
    client: TestClient[Any, Any],
) -> None:
    """Each answer model is read back from a real answer: the document cannot drift (#12)."""
    token = await api_login(client, "referent")
    headers = {"X-CSRF-Token": token}
    created = await client.post(
        "/api/v1/calendar/closed-days",
        json={"day": "2027-02-01", "reason": "pont"},
        headers=headers,
    )
    document = await (await client.get("/api/v1/openapi.json")).json()
    checked = []
    for op in _operations(client):
        entry = document["paths"]["/api/v1" + op.path][op.method]
        # Every operation says what it answers: a model, or a file's media type.
        assert op.response is not None or op.media != "application/json", op.path
        if op.response is None:
            assert op.media in entry["responses"][str(op.success)]["content"], op.path
            continue
        schema = entry["responses"][str(op.success)]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/" + op.response.__name__), op.path
        assert op.response.__name__ in document["components"]["schemas"]
        if op.method == "get" and "{" not in op.path:
            answer = await client.get("/api/v1" + op.path, params=SAMPLE_QUERIES.get(op.path, {}))
            assert answer.status == op.success, op.path
            op.response.model_validate(await answer.json())  # an undocumented key fails
            checked.append(op.path)
    assert created.status == 201
    created_model = next(
        op.response
        for op in _operations(client)
        if op.method == "post" and op.path == "/calendar/closed-days"
    )
    assert created_model is not None
    created_model.model_validate(await created.json())

    assert {"/me", "/health", "/audit", "/sessions", "/jobs"} <= set(checked)


def test_a_key_the_answer_model_does_not_name_is_refused() -> None:
    from pydantic import ValidationError

    from appliance.web.replies import ClosedDay

    ClosedDay.model_validate({"day": "2027-02-01", "reason": "pont"})
    with pytest.raises(ValidationError):
        ClosedDay.model_validate({"day": "2027-02-01", "reason": "pont", "created_by": "x"})


async def test_an_answer_with_an_undocumented_key_fails_under_test(
    aiohttp_client: ClientFactory,
) -> None:
    """The suite reads every answer through its model: drift is a 500 in tests, not a doc lie."""
    from aiohttp import web

    from appliance.web.api_routes import CHECK_REPLIES_KEY, ApiRoutes
    from appliance.web.replies import ClosedDay

    api = ApiRoutes()

    @api.get("/drift", "An answer that drifted.", roles=None, response=ClosedDay)
    async def drift(request: web.Request) -> web.StreamResponse:
        return web.json_response({"day": "2027-02-01", "reason": "pont", "secret": "x"})

    app = web.Application()
    app.add_routes(api)
    unchecked = await aiohttp_client(app)
    assert (await unchecked.get("/api/v1/drift")).status == 200  # production does not check
    app2 = web.Application()
    app2.add_routes(api)
    app2[CHECK_REPLIES_KEY] = True
    strict = await aiohttp_client(app2)
    assert (await strict.get("/api/v1/drift")).status == 500


def test_api_handlers_read_the_query_their_route_declares() -> None:
    """No handler reads ``request.query`` behind its declaration's back (#12)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[3]
    modules = [
        path
        for path in root.glob("*/**/*.py")
        if ".venv" not in path.parts
        and "tests" not in path.parts
        and "= ApiRoutes()" in path.read_text()
        and path.name != "api_routes.py"  # the one place that parses it
    ]
    assert len(modules) >= 7
    for module in modules:
        assert "request.query" not in module.read_text(), module
