"""Routes served without FastAPI's per-request machinery, each declared once.

The widget's feed and events (app/widget/hot_path.py) and the public changelog
(app/changelog/endpoints.py) are what every end user and every visitor calls, and
FastAPI's and Starlette's own layers (error and telemetry middleware, the exception
middleware, the router, dependency solving, the request/response adapters) cost more
than the work of an answer (docs/performance.md). So ``TidingsApp`` hands their paths to
``HotRoutes`` before any of that. A ``HotRoute`` declares a route once: the raw ASGI
endpoint that serves it, and what its OpenAPI entry is generated from (pydantic models
for the query, the body and a JSON answer, or the media types of another answer), so the
document and the code cannot drift.

They still pass through the same request middleware as every other route (the list
``app.main.request_middleware`` returns: request id, log and metrics, rate limits,
deadline, body limit), and an exception is answered by the same handlers as anywhere
else (``app.errors.exception_response``). A path may hold parameters (``{name}``); a
parameter's documented ``pattern`` is also what it must match, and the values are in
``scope["path_params"]``. HEAD is answered as GET, without the body.
"""

import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from fastapi import FastAPI
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import exception_response

Endpoint = Callable[[Scope, Receive, Send], Awaitable[None]]

_PARAMETER = re.compile(r"{([a-z_]+)}")


@dataclass(frozen=True, slots=True)
class HotRoute:
    path: str  # also the route's name in metrics and access logs, as for any route
    method: str
    endpoint: Endpoint
    # What OpenAPI says of it: its name (the operation id's first part), tags, security,
    # success status and body (a model for JSON, else media types), path parameters'
    # schemas, query parameters, request body, and other answers it gives.
    name: str
    status: int
    response: type[BaseModel] | None = None
    media_types: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    security: tuple[Mapping[str, list[str]], ...] = ()
    path_parameters: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    request_body: Mapping[str, Any] | None = None  # its OpenAPI object, when ``body`` is set
    other_responses: Mapping[int, str] = field(default_factory=dict)
    matcher: re.Pattern[str] | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if "{" in self.path:
            object.__setattr__(self, "matcher", re.compile(self._path_regex()))

    def _path_regex(self) -> str:
        regex, end = "", 0
        for found in _PARAMETER.finditer(self.path):
            name = found.group(1)
            pattern = self.path_parameters.get(name, {}).get("pattern", "^[^/]+$")
            regex += re.escape(self.path[end : found.start()])
            regex += f"(?P<{name}>{pattern.removeprefix('^').removesuffix('$')})"
            end = found.end()
        return regex + re.escape(self.path[end:])

    def operation(self) -> dict[str, Any]:
        """The route's OpenAPI operation, as FastAPI would write it for a route of its own."""
        operation: dict[str, Any] = {
            "tags": list(self.tags),
            "summary": self.name.replace("_", " ").title(),
            "description": _description(self.endpoint),
            "operationId": _operation_id(self.name, self.path, self.method),
        }
        if self.security:
            operation["security"] = [dict(requirement) for requirement in self.security]
        parameters: list[dict[str, Any]] = [
            {"name": name, "in": "path", "required": True, "schema": dict(schema)}
            for name, schema in self.path_parameters.items()
        ]
        if self.query is not None:
            for name, property_ in self.query.model_json_schema()["properties"].items():
                property_.pop("default", None)  # "not sent" is what an optional one means
                parameters.append(
                    {"name": name, "in": "query", "required": False, "schema": property_}
                )
        if parameters:
            operation["parameters"] = parameters
        if self.request_body is not None:
            operation["requestBody"] = dict(self.request_body)
        content = (
            {"application/json": {"schema": _ref(self.response)}}
            if self.response is not None
            else {media_type.split(";")[0]: {} for media_type in self.media_types}
        )
        responses: dict[str, Any] = {
            str(self.status): {"description": "Successful Response", "content": content}
        }
        for status, description in self.other_responses.items():
            responses[str(status)] = {"description": description}
        operation["responses"] = responses
        return operation


class HotRoutes:
    def __init__(self, routes: Sequence[HotRoute], middleware: Sequence[Middleware]) -> None:
        self._routes = {route.path: route for route in routes if route.matcher is None}
        self._patterned = [route for route in routes if route.matcher is not None]
        app: ASGIApp = self._dispatch
        for cls, args, kwargs in reversed(middleware):
            app = cls(app, *args, **kwargs)
        self._app = app

    def route_for(self, scope: Scope) -> HotRoute | None:
        path = _route_path(scope)
        route = self._routes.get(path)
        parameters = None
        if route is None:
            for candidate in self._patterned:
                assert candidate.matcher is not None
                matched = candidate.matcher.fullmatch(path)
                if matched is not None:
                    route, parameters = candidate, matched.groupdict()
                    break
            else:
                return None
        method = scope["method"]
        # HEAD is GET without the body (the server drops it), as on Starlette's routes.
        if method != route.method and (method, route.method) != _HEAD:
            return None
        if parameters is not None:
            scope["path_params"] = parameters
        return route

    async def __call__(self, scope: Scope, receive: Receive, send: Send, route: HotRoute) -> None:
        scope["route"] = route
        await self._app(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        route: HotRoute = scope["route"]
        try:
            await route.endpoint(scope, receive, send)
        except Exception as exc:
            # The endpoints send nothing before they are sure of their answer.
            response = await exception_response(Request(scope, receive), exc)
            await response(scope, receive, send)


_HEAD = ("HEAD", "GET")


def _route_path(scope: Scope) -> str:
    """The path the routes see: without the ``root_path`` a proxy mounts the app under."""
    path: str = scope["path"]
    root_path: str = scope.get("root_path", "")
    if (
        root_path
        and path.startswith(root_path)
        and path[len(root_path) : len(root_path) + 1] == "/"
    ):
        return path[len(root_path) :]
    return path


def query_pairs(scope: Scope) -> list[tuple[str, str]]:
    """The query string's pairs, as Starlette's QueryParams reads them: latin-1, blank
    values kept, every pair in order (a repeated name's values are all checked for
    secrets; for the rest the last one wins)."""
    query: str = scope["query_string"].decode("latin-1")
    if "%" in query or "+" in query:
        return parse_qsl(query, keep_blank_values=True)
    # Nothing to unescape (the widget's own polls): the same pairs, without parse_qsl.
    return [
        (name, value)
        for name, _, value in (pair.partition("=") for pair in query.split("&") if pair)
    ]


def headers_of(scope: Scope, wanted: frozenset[bytes]) -> dict[bytes, str]:
    """The wanted headers' values; the first of each counts, as for Starlette's
    ``Headers.get``."""
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in wanted and name not in found:
            found[name] = value.decode("latin-1")
    return found


def _description(endpoint: Endpoint) -> str:
    lines = (endpoint.__doc__ or "").strip().splitlines()
    # As FastAPI: the docstring, its indentation removed.
    return "\n".join(line.strip() for line in lines)


def _operation_id(name: str, path: str, method: str) -> str:
    # FastAPI's own rule, so the ids stay what clients generated from the document know.
    return re.sub(r"\W", "_", f"{name}{path}") + f"_{method.lower()}"


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def document_hot_routes(app: FastAPI, routes: Sequence[HotRoute]) -> None:
    """Add the hot routes to the app's OpenAPI document, with the schemas they refer to."""
    build_document = app.openapi

    def openapi() -> dict[str, Any]:
        document = build_document()  # built once and cached by FastAPI
        paths = document.setdefault("paths", {})
        if all(route.method.lower() in paths.get(route.path, {}) for route in routes):
            return document
        for route in routes:
            paths.setdefault(route.path, {})[route.method.lower()] = route.operation()
        models: list[tuple[type[BaseModel], Any]] = []
        for route in routes:
            if route.response is not None:
                models.append((route.response, "serialization"))
            if route.body is not None:
                models.append((route.body, "validation"))
        _, definitions = models_json_schema(models, ref_template="#/components/schemas/{model}")
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        for name, schema in definitions.get("$defs", {}).items():
            schemas.setdefault(name, schema)
        return document

    app.openapi = openapi  # type: ignore[method-assign]
