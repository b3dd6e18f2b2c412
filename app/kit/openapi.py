"""Error responses in the OpenAPI document, derived from what every route shares.

Some refusals come from layers no route declares: authentication dependencies (401/403),
the body limit (413), the rate limiter (429), validation (422, rendered as problem+json,
not FastAPI's default), the database-fault handler (503). Writing those on each route
would drift; they are added here from each operation's shape, so a new route is documented
like the others. A route still declares what only it can answer (409, 412, ...).
"""

from typing import Any

import orjson
from fastapi import FastAPI

from app.errors import PROBLEM_JSON, PROBLEM_SCHEMA_REF, Problem, problem_response_doc

_WIDGET_SCHEMES = {"APIKeyQuery", "APIKeyHeader"}
_KEY_SCHEMES = _WIDGET_SCHEMES | {"HTTPBearer"}
_ALWAYS_UP = {"/healthz", "/metrics"}  # answer without the database
_FASTAPI_VALIDATION_SCHEMAS = ("HTTPValidationError", "ValidationError")


def install_problem_documentation(app: FastAPI) -> None:
    build_document = app.openapi

    def openapi() -> dict[str, Any]:
        document = build_document()  # built once and cached by FastAPI
        schemas = document.setdefault("components", {}).setdefault("schemas", {})
        if "Problem" not in schemas:
            _document_problems(document, schemas)
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def _document_problems(document: dict[str, Any], schemas: dict[str, Any]) -> None:
    definitions = Problem.model_json_schema(ref_template="#/components/schemas/{model}")
    schemas.update(definitions.pop("$defs", {}))
    schemas["Problem"] = definitions
    for path, item in document.get("paths", {}).items():
        for operation in item.values():
            responses: dict[str, Any] = operation.setdefault("responses", {})
            for status in _shared_error_statuses(path, operation, schemas):
                responses.setdefault(str(status), {})
            for code, response in responses.items():
                if code[0] in "45":
                    _as_problem(int(code), response)
    # FastAPI's own 422 schema is replaced everywhere: drop it when nothing refers to it.
    for name in _FASTAPI_VALIDATION_SCHEMAS:  # the first refers to the second
        if f'"#/components/schemas/{name}"'.encode() not in orjson.dumps(document):
            schemas.pop(name, None)


def _shared_error_statuses(
    path: str, operation: dict[str, Any], schemas: dict[str, Any]
) -> set[int]:
    schemes = {name for requirement in operation.get("security", []) for name in requirement}
    locations = {parameter["in"] for parameter in operation.get("parameters", [])}
    body = operation.get("requestBody", {}).get("content", {})
    body_types = set(body)
    body_ref = body.get("application/json", {}).get("schema", {}).get("$ref", "")
    body_fields = schemas.get(body_ref.rsplit("/", 1)[-1], {}).get("properties", {})
    statuses: set[int] = set()
    if path not in _ALWAYS_UP:
        statuses.add(503)
    if path.startswith("/v1/"):
        statuses.add(429)
    if schemes:
        statuses.add(401)
    if schemes & _KEY_SCHEMES:
        statuses.add(403)
    if "path" in locations or schemes & _WIDGET_SCHEMES:
        statuses.add(404)  # an id of another workspace; the widget's workspace deleted
    if any(field.endswith("_id") for field in body_fields):
        statuses.add(404)  # an id in the body names an object too
    if locations or body_types:
        statuses.add(422)
    if body_types:
        statuses |= {400, 413}
    if "text/plain" in body_types:
        statuses.add(415)
    return statuses


def _as_problem(status: int, response: dict[str, Any]) -> None:
    documented = problem_response_doc(status, response.get("description"))
    response["description"] = documented["description"]
    response["content"] = {PROBLEM_JSON: {"schema": {"$ref": PROBLEM_SCHEMA_REF}}}
    if "headers" in documented:
        response.setdefault("headers", {}).update(documented["headers"])
