"""The OpenAPI document says what the service really answers: our error shape under 400 (never
FastAPI's default 422), and 413/415 for operations that take a body."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from story2video.protocol import ErrorResponse

_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


def _error(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": _ERROR_REF}}}


def _fix_operation(operation: dict[str, Any]) -> None:
    responses = operation.setdefault("responses", {})
    takes_input = "requestBody" in operation or operation.get("parameters")
    if responses.pop("422", None) is not None or takes_input:
        responses["400"] = _error("Invalid request: the field is named in `error.param`")
    if "requestBody" in operation:
        responses.setdefault("413", _error("The body is larger than MAX_BODY_BYTES"))
        responses.setdefault("415", _error("The body is not JSON"))


def install_openapi(app: FastAPI) -> None:
    def build() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = get_openapi(title=app.title, version=app.version, description=app.description, routes=app.routes)
            components = schema.setdefault("components", {}).setdefault("schemas", {})
            components.setdefault("ErrorResponse", ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}"))
            for model_name, model_schema in ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}").get("$defs", {}).items():
                components.setdefault(model_name, model_schema)
            components.pop("HTTPValidationError", None)
            components.pop("ValidationError", None)
            for path_item in schema.get("paths", {}).values():
                for operation in path_item.values():
                    _fix_operation(operation)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = build  # type: ignore[method-assign]
