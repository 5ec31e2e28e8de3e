"""The OpenAPI document tells the truth about failures: every operation documents the error
answers it can give, each with the one error shape (``governance.api.errors.error_body``) and
the complete list of error codes. A drf-spectacular post-processing hook, so no operation can
forget. (schemathesis checks the API against this document in CI.)"""

from __future__ import annotations

from rest_framework import serializers

# Every ``error.code`` the API can answer (README "Errors" lists the same, with their meaning).
ERROR_CODES = [
    "bad_request",  # 400: the input layer (NUL, depth, sizes) or an unreadable body
    "malformed_request",  # 400: a body that is not JSON
    "invalid",  # 400: fields that do not validate (details name them)
    "authentication_failed",  # 401: a token that is invalid, expired or revoked
    "not_authenticated",  # 401: no credentials
    "permission_denied",  # 403
    "second_factor_required",  # 403: a session whose role requires a second factor
    "not_found",  # 404
    "method_not_allowed",  # 405
    "not_acceptable",  # 406
    "conflict",  # 409: the state does not allow it, or a duplicate
    "budget_exceeded",  # 409: a privacy-budget claim larger than the remainder
    "no_budget_requirement",  # 400: a claim on a dataset without a privacy budget
    "payload_too_large",  # 413
    "unsupported_media_type",  # 415
    "throttled",  # 429 (Retry-After)
    "server_error",  # 500: a bug; logged with the request id
    "unavailable",  # 503: a dependency failed; nothing was decided (Retry-After)
]

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "enum": ERROR_CODES},
                "message": {"type": "string"},
                "details": {"type": "object", "additionalProperties": True},
            },
        }
    },
}

_DESCRIPTIONS = {
    "400": "The request is not acceptable (fields, input limits or a malformed body).",
    "401": "No credentials, or a token that is invalid, expired or revoked.",
    "403": "The caller may not do this (or must verify a second factor first).",
    "404": "Nothing the caller may see exists here.",
    "406": "None of the media types in Accept can be produced.",
    "409": "The current state does not allow it, or it duplicates an existing request.",
    "413": "The body or the list in it is larger than the limit in details.",
    "415": "The body's media type is not accepted here.",
    "429": "Too many requests; retry after the number of seconds in Retry-After.",
    "500": "The server failed; the error was logged with the request id in details.",
    "503": "A dependency (database, cache) is unavailable; nothing was decided or changed.",
}
_ALWAYS = ("400", "401", "403", "404", "406", "429", "500", "503")
_WITH_BODY = ("409", "413", "415")
_RETRY_AFTER = {"Retry-After": {"schema": {"type": "integer"}, "description": "Seconds to wait."}}


def add_error_responses(result, generator, request, public):
    result.setdefault("components", {}).setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    reference = {"$ref": "#/components/schemas/Error"}
    for methods in result.get("paths", {}).values():
        for method, operation in methods.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            codes = _ALWAYS + (_WITH_BODY if method in {"post", "put", "patch"} else ("409",))
            for code in codes:
                if code in responses:
                    continue
                response = {
                    "description": _DESCRIPTIONS[code],
                    "content": {"application/json": {"schema": reference}},
                }
                if code in {"429", "503"}:
                    response["headers"] = _RETRY_AFTER
                responses[code] = response
    return result


def bounded(field_class, **bounds):
    """``field_class`` whose OpenAPI schema states bounds a service enforces.

    The service keeps the one rule and its message (``parse_epsilon`` …); the schema only tells
    clients and schemathesis the same bounds, so a schema-valid request is a valid one."""
    from drf_spectacular.utils import extend_schema_field

    kind = "integer" if issubclass(field_class, serializers.IntegerField) else "number"
    schema = {"type": kind, **bounds}
    if kind == "number":
        schema.setdefault("format", "double")
    return extend_schema_field(schema)(type(f"Bounded{field_class.__name__}", (field_class,), {}))
