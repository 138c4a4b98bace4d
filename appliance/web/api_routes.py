"""One route decorator for the JSON API: the handler, its body, its role and its document.

Each module of the API (the kernel's and every feature's) declares its routes
on an :class:`ApiRoutes` table::

    api = ApiRoutes()

    @api.post("/filter/overrides", "Add a timed override.", body=OverrideBody,
              roles=STAFF, success=201)
    async def add_override(request: web.Request, body: OverrideBody) -> web.StreamResponse:

The same declaration registers the aiohttp route, checks the session's role,
parses and validates the JSON body into the model (415, 400 or 422 with the
error envelope, before the handler runs) and records the :class:`Operation`
that :func:`openapi_document` turns into the OpenAPI document. The document
therefore cannot list a route that is not served, miss one that is, or show a
body or role the handler does not enforce.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from functools import wraps
from typing import Any, Final, TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError, create_model
from pydantic.fields import FieldInfo

from appliance.config import Role
from appliance.i18n import N_
from appliance.validation_fr import joined, problems
from appliance.web.auth import require_role
from appliance.web.errors import error

API_PREFIX: Final = "/api/v1"
STAFF: Final[tuple[Role, ...]] = ("teacher", "referent")
EVERYONE: Final[tuple[Role, ...]] = ("pupil", "teacher", "staff", "referent")

_ModelT = TypeVar("_ModelT", bound=BaseModel)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
AnyHandler = Callable[..., Awaitable[web.StreamResponse]]


class ApiRoutesList(list["ApiRoutes"]):
    """The API route tables an app serves (what its OpenAPI document lists)."""


class Body(BaseModel):
    """Base of every JSON request body: unknown keys refused, text stripped."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Reply(BaseModel):
    """Base of every JSON answer's model (its document); a key it does not name is refused.

    ``tests/appliance/web/test_api.py`` reads every declared answer through its
    model, so a handler that sends a key the document does not show fails.
    """

    model_config = ConfigDict(extra="forbid")


@dataclass(frozen=True, slots=True)
class Operation:
    """One documented API operation."""

    method: str
    path: str
    summary: str
    body: type[BaseModel] | None = None
    roles: tuple[Role, ...] | None = ("referent",)
    success: int = 200
    body_optional: bool = False
    query: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    # What a success sends when it is not JSON (a file, a zip).
    media: str = "application/json"


async def read_body(request: web.Request, model: type[_ModelT]) -> _ModelT | web.Response:
    """Parse the request's JSON body into ``model``, or return the error to send."""
    if request.content_type != "application/json":
        return error(415, "content_type", N_("Envoyez du JSON (application/json)."))
    try:
        raw = await request.json()
    except ValueError:
        return error(400, "json", N_("Le corps de la requête n'est pas du JSON valide."))
    try:
        return model.model_validate(raw)
    except ValidationError as err:
        return error(422, "invalid", joined(problems(err)))


def changes_body(section: type[BaseModel], name: str, doc: str) -> type[Body]:
    """Return a body changing some keys of a config section, with the section's own bounds.

    One declaration validates the config file, the API and the pages (issue
    #11): every key is optional here, and each keeps its type, bounds and
    description (which the OpenAPI document shows).
    """
    fields: dict[str, Any] = {
        key: (field.annotation | None, FieldInfo.merge_field_infos(field, default=None))  # type: ignore[operator]
        for key, field in section.model_fields.items()
    }
    model: type[Body] = create_model(name, __base__=Body, __doc__=doc, **fields)
    return model


class ApiRoutes(web.RouteTableDef):
    """A route table whose every route is a documented API operation."""

    def __init__(self) -> None:
        """Start with no operation."""
        super().__init__()
        self.operations: list[Operation] = []

    def operation(
        self,
        method: str,
        path: str,
        summary: str,
        *,
        body: type[BaseModel] | None = None,
        body_optional: bool = False,
        query: type[BaseModel] | None = None,
        roles: tuple[Role, ...] | None = ("referent",),
        success: int = 200,
        response: type[BaseModel] | None = None,
        media: str = "application/json",
    ) -> Callable[[AnyHandler], AnyHandler]:
        """Declare one operation; ``roles=None`` leaves it open to anyone.

        With ``body_optional``, a request without a body gets the model's defaults;
        ``response`` is the model of the JSON a success sends (see :class:`Reply`),
        ``media`` the type of what it sends instead (a download).
        """
        op = Operation(
            method, path, summary, body, roles, success, body_optional, query, response, media
        )

        def decorate(handler: AnyHandler) -> AnyHandler:
            serve: Handler
            if body is None:
                serve = handler
            else:
                model = body

                @wraps(handler)
                async def with_body(request: web.Request) -> web.StreamResponse:
                    if body_optional and not request.can_read_body:
                        return await handler(request, model())
                    parsed = await read_body(request, model)
                    if isinstance(parsed, web.Response):
                        return parsed
                    return await handler(request, parsed)

                serve = with_body
            if response is not None:
                serve = _checking_reply(serve, response, success)
            if query is not None:
                serve = _checking_query(serve, query)
            if roles is not None:
                serve = require_role(*roles, api=True)(serve)
            self.operations.append(op)
            self.route(method.upper(), API_PREFIX + path)(serve)
            return handler

        return decorate

    def get(self, path: str, summary: str, **options: Any) -> Callable[[AnyHandler], AnyHandler]:  # type: ignore[override]
        """Declare a GET operation."""
        return self.operation("get", path, summary, **options)

    def post(self, path: str, summary: str, **options: Any) -> Callable[[AnyHandler], AnyHandler]:  # type: ignore[override]
        """Declare a POST operation."""
        return self.operation("post", path, summary, **options)

    def put(self, path: str, summary: str, **options: Any) -> Callable[[AnyHandler], AnyHandler]:  # type: ignore[override]
        """Declare a PUT operation."""
        return self.operation("put", path, summary, **options)

    def delete(self, path: str, summary: str, **options: Any) -> Callable[[AnyHandler], AnyHandler]:  # type: ignore[override]
        """Declare a DELETE operation."""
        return self.operation("delete", path, summary, **options)


API_TABLES_KEY: Final = web.AppKey("api_tables", ApiRoutesList)
# Set by the test suite: every JSON answer is read through its declared model.
CHECK_REPLIES_KEY: Final = web.AppKey("check_replies", bool)


def _checking_reply(handler: Handler, model: type[BaseModel], success: int) -> Handler:
    """Read the success's JSON through ``model`` when the app asks for it (the tests do).

    Only the documented success status is the model's: another 2xx (an
    upload held for the antivirus, 202) has its own answer.
    """

    @wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        answer = await handler(request)
        if (
            request.app.get(CHECK_REPLIES_KEY, False)
            and isinstance(answer, web.Response)
            and answer.status == success
            and answer.content_type == "application/json"
            and isinstance(answer.body, bytes)
        ):
            model.model_validate_json(answer.body)  # a key the document lacks fails
        return answer

    return checked


class Query(BaseModel):
    """Base of query-string models: unknown parameters are ignored (cache busters)."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, populate_by_name=True)


_QUERY_KEY: Final = web.RequestKey("parsed_query", BaseModel)
_QueryT = TypeVar("_QueryT", bound=BaseModel)


def _checking_query(handler: Handler, model: type[BaseModel]) -> Handler:
    """Refuse a query string the model rejects with 422; give the handler the parsed one."""

    @wraps(handler)
    async def checked(request: web.Request) -> web.StreamResponse:
        try:
            request[_QUERY_KEY] = model.model_validate(dict(request.query))
        except ValidationError as err:
            return error(422, "invalid", joined(problems(err, whole=N_("requête"))))
        return await handler(request)

    return checked


def parsed_query(request: web.Request, model: type[_QueryT]) -> _QueryT:
    """Return the request's query string as its route declared it (checked already)."""
    parsed = request[_QUERY_KEY]
    if not isinstance(parsed, model):
        raise TypeError(f"{request.path}: the route declares no {model.__name__} query")
    return parsed


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema()
    required = set(schema.get("required", []))
    return [
        {"name": name, "in": "query", "required": name in required, "schema": prop}
        for name, prop in schema.get("properties", {}).items()
    ]


def _operation_id(op: Operation) -> str:
    words = re.sub(r"[^a-z0-9]+", "_", op.path.lower()).strip("_")
    return f"{op.method}_{words}"


_ERROR_SCHEMA: Final[dict[str, Any]] = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}},
        }
    },
}


def _component(model: type[BaseModel], schemas: dict[str, Any]) -> str:
    """Add ``model`` (and the models it nests) to the document's schemas; return its name."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[model.__name__] = schema
    return model.__name__


def _entry(op: Operation, schemas: dict[str, Any]) -> dict[str, Any]:
    error_ref = {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    }
    success: dict[str, Any] = {}
    if op.response is not None:
        success = {"schema": {"$ref": f"#/components/schemas/{_component(op.response, schemas)}"}}
    entry: dict[str, Any] = {
        "summary": op.summary,
        "operationId": _operation_id(op),
        "responses": {
            str(op.success): {"description": "Success", "content": {op.media: success}},
        },
    }
    params = [part[1:-1] for part in op.path.split("/") if part.startswith("{")]
    if params:
        entry["parameters"] = [
            {"name": name, "in": "path", "required": True, "schema": {"type": "string"}}
            for name in params
        ]
    if op.query is not None:
        entry["parameters"] = [*entry.get("parameters", []), *_query_parameters(op.query)]
        entry["responses"]["422"] = {"description": "Invalid query", **error_ref}
    if op.body is not None:
        name = _component(op.body, schemas)
        entry["requestBody"] = {
            "required": not op.body_optional,
            "content": {"application/json": {"schema": {"$ref": f"#/components/schemas/{name}"}}},
        }
        entry["responses"]["400"] = {"description": "Body is not JSON", **error_ref}
        entry["responses"]["415"] = {"description": "Body is not application/json", **error_ref}
        entry["responses"]["422"] = {"description": "Invalid body", **error_ref}
    if op.roles is not None:
        entry["security"] = [{"session": []}]
        entry["x-roles"] = list(op.roles)
        entry["responses"]["401"] = {"description": "Not logged in", **error_ref}
        entry["responses"]["403"] = {"description": "Role not allowed or CSRF", **error_ref}
        if op.method != "get":
            entry["parameters"] = [
                *entry.get("parameters", []),
                {"name": "X-CSRF-Token", "in": "header", "required": True,
                 "schema": {"type": "string"}},
            ]  # fmt: skip
    return entry


def openapi_document(operations: Iterable[Operation], description: str) -> dict[str, Any]:
    """Build the OpenAPI 3.1 document of ``operations``."""
    paths: dict[str, dict[str, Any]] = {}
    schemas: dict[str, Any] = {"Error": _ERROR_SCHEMA}
    for op in operations:
        paths.setdefault(API_PREFIX + op.path, {})[op.method] = _entry(op, schemas)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Préau appliance API", "version": "1", "description": description},
        "paths": paths,
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": "preau_session"}
            },
        },
    }
