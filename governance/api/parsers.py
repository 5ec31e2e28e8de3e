"""The API's JSON parser: DRF's, with the input rules of ``governance.inputs`` (no NUL in
any string or key, bounded depth, string length and container size, no RecursionError)."""

from __future__ import annotations

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from governance import inputs


class GuardedJSONParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            raw = stream.read().decode(encoding) if stream is not None else ""
        except UnicodeDecodeError as error:
            raise ParseError(f"JSON parse error - {error}") from None
        return inputs.load_json(raw)
