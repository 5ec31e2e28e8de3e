"""What input the registry accepts at all: the one owner of the rules every request meets
before any view sees it (docs/security.md, "Hostile input").

- No NUL byte anywhere: path, query parameters, headers, form fields, JSON strings and keys
  (PostgreSQL cannot store one in text; a NUL is never legitimate here).
- Query parameters and headers of bounded length.
- Standard JSON only (no NaN or Infinity), of bounded nesting depth, string length and
  container size, parsed without recursion errors and checked without recursion.

Violations answer 400 with the API's error shape (``bad_request``) naming where the problem
is, or a plain 400 page in the portal, and nothing runs. The limits are settings
(``INPUT_MAX_*``), read per request so tests and deployments can change them.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpResponseBadRequest, JsonResponse

from governance.errors import ApplicationError

MSG_NUL = "A NUL character is not accepted (in {where})."
MSG_TOO_LONG = "{where} is longer than {limit:,} characters."
MSG_TOO_DEEP = "The JSON document is nested deeper than {limit} levels."
MSG_TOO_MANY = "{where} holds more than {limit:,} items."
MSG_NOT_JSON = "The body is not valid JSON: {reason}."
MSG_CONSTANT = "{constant} is not a JSON number; send a finite number."

_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


class InputRefused(ApplicationError):
    status_code = 400
    code = "bad_request"


class MalformedBody(ApplicationError):
    """A body that is not JSON at all (the same code DRF's parse errors have)."""

    status_code = 400
    code = "malformed_request"


def _limit(name: str, default: int) -> int:
    return int(getattr(settings, name, default))


# --- text ----------------------------------------------------------------------------------


def text_problem(value: str, where: str, *, limit: int | None = None) -> InputRefused | None:
    if "\x00" in value:
        return InputRefused(MSG_NUL.format(where=where), {"where": where})
    if limit is not None and len(value) > limit:
        return InputRefused(
            MSG_TOO_LONG.format(where=where, limit=limit), {"where": where, "limit": limit}
        )
    return None


def request_problem(request) -> InputRefused | None:
    """The first problem in the request's path, query string, headers and form fields."""
    if problem := text_problem(request.path, "the path"):
        return problem
    param_limit = _limit("INPUT_MAX_PARAMETER_CHARS", 4096)
    for name, values in request.GET.lists():
        where = f"query parameter {name[:100]!r}"
        if problem := text_problem(name, where, limit=param_limit):
            return problem
        for value in values:
            if problem := text_problem(value, where, limit=param_limit):
                return problem
    header_limit = _limit("INPUT_MAX_HEADER_CHARS", 8192)
    for key, value in request.META.items():
        if key.startswith("HTTP_") and isinstance(value, str):
            where = f"header {key[5:].replace('_', '-').title()}"
            if problem := text_problem(value, where, limit=header_limit):
                return problem
    # What Django decodes out of headers: cookie values (octal escapes) and Basic credentials.
    for name, value in request.COOKIES.items():
        if problem := text_problem(f"{name}={value}", f"cookie {name[:100]!r}"):
            return problem
    credentials = basic_credentials(request)
    if credentials and (problem := text_problem(":".join(credentials), "the Basic credentials")):
        return problem
    content_type = request.META.get("CONTENT_TYPE", "").lower()
    if request.method == "POST" and content_type.startswith(_FORM_TYPES):
        for name, values in request.POST.lists():
            where = f"form field {name[:100]!r}"
            if problem := text_problem(name, where):
                return problem
            for value in values:
                if problem := text_problem(value, where):
                    return problem
    return None


# --- JSON ----------------------------------------------------------------------------------


def basic_credentials(request) -> tuple[str, str] | None:
    """The (client id, secret) of an HTTP Basic ``Authorization`` header, form-decoded as
    RFC 6749 2.3.1 encodes them; None without one or when it does not decode."""
    import base64
    import binascii
    from urllib.parse import unquote_plus

    header = request.META.get("HTTP_AUTHORIZATION", "")
    if header[:6].lower() != "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    if ":" not in decoded:
        return None
    client_id, secret = decoded.split(":", 1)
    return unquote_plus(client_id), unquote_plus(secret)


def load_json(raw: bytes | str) -> Any:
    """Parse a JSON body and check it (``check_document``); InputRefused when it is not
    acceptable. A document nested deeper than the interpreter can parse is refused, not a
    RecursionError."""
    try:
        document = json.loads(raw, parse_constant=refuse_constant)
    except RecursionError:
        raise InputRefused(
            MSG_TOO_DEEP.format(limit=_limit("INPUT_MAX_JSON_DEPTH", 32)), {"where": "$"}
        ) from None
    except (ValueError, UnicodeDecodeError) as error:
        reason = getattr(error, "msg", None) or type(error).__name__
        raise MalformedBody(MSG_NOT_JSON.format(reason=reason)) from None
    check_document(document)
    return document


def refuse_constant(constant: str):
    """NaN, Infinity and -Infinity: Python's json accepts them, JSON does not."""
    raise InputRefused(MSG_CONSTANT.format(constant=constant))


def check_document(document: Any, *, where: str = "$") -> None:
    """Depth, string length, container size and no NUL, over the whole document, iteratively."""
    max_depth = _limit("INPUT_MAX_JSON_DEPTH", 32)
    max_chars = _limit("INPUT_MAX_STRING_CHARS", 1_000_000)
    max_items = _limit("INPUT_MAX_ITEMS", 1_000_000)
    stack: list[tuple[Any, str, int]] = [(document, where, 1)]
    while stack:
        value, path, depth = stack.pop()
        if isinstance(value, str):
            if problem := text_problem(value, path, limit=max_chars):
                raise problem
            continue
        if not isinstance(value, dict | list):
            continue
        if depth > max_depth:
            raise InputRefused(MSG_TOO_DEEP.format(limit=max_depth), {"where": path})
        if len(value) > max_items:
            raise InputRefused(MSG_TOO_MANY.format(where=path, limit=max_items), {"where": path})
        if isinstance(value, dict):
            if _strings_acceptable([*value, *_strings(value.values())], max_chars):
                # Keys and string values all pass (the common case): only the containers
                # inside still need a visit, and only they get a path.
                for key, item in value.items():
                    if isinstance(item, _CONTAINERS):
                        stack.append((item, f"{path}.{key[:100]}", depth + 1))
                continue
            for key, item in value.items():
                child = f"{path}.{key[:100]}"
                if problem := text_problem(key, f"the key {child}", limit=max_chars):
                    raise problem
                stack.append((item, child, depth + 1))
        elif _strings_acceptable(strings := _strings(value), max_chars):
            if len(strings) < len(value):  # containers inside, each visited with its path
                for i, item in enumerate(value):
                    if isinstance(item, _CONTAINERS):
                        stack.append((item, f"{path}[{i}]", depth + 1))
        else:
            stack.extend((item, f"{path}[{i}]", depth + 1) for i, item in enumerate(value))


_CONTAINERS = (dict, list)


def _strings(values) -> list[str]:
    return [item for item in values if isinstance(item, str)]


def _strings_acceptable(strings: list[str], max_chars: int) -> bool:
    """Whether none of ``strings`` has a NUL or is longer than ``max_chars``: one check over
    them all (a filter sends 100,000 ids, a batch 10,000 events). When it says no, the caller
    walks the items one by one, so the refusal names the first bad one exactly as before."""
    if not strings:
        return True
    try:
        joined = "".join(strings)
    except TypeError:  # a key that is not a string (not JSON): one by one
        return False
    return "\x00" not in joined and max(map(len, strings)) <= max_chars


# --- the middleware --------------------------------------------------------------------------


def _refusal_response(request, problem: InputRefused):
    from governance.api.errors import error_body

    if request.path.startswith(("/api/", "/o/")):
        return JsonResponse(error_body(problem.code, problem.message, problem.extra), status=400)
    return HttpResponseBadRequest(problem.message, content_type="text/plain; charset=utf-8")


class InputGuardMiddleware:
    """Refuses a request whose path, parameters, headers or form fields break the rules above,
    before sessions, authentication or any view touch it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        problem = request_problem(request)
        if problem is not None:
            return _refusal_response(request, problem)
        return self.get_response(request)
