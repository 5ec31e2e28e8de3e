"""NDJSON in (batch of events) and NDJSON/CSV out (export)."""

from __future__ import annotations

import gc
import json
from contextlib import contextmanager

from django.conf import settings
from rest_framework import renderers
from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser

from governance import inputs
from governance.errors import PayloadTooLarge

MAX_BATCH_BYTES = 32 * 1024 * 1024

MSG_NDJSON_LINE = "Line {line} is not a JSON object: {reason}."
MSG_NDJSON_ENCODING = "Line {line} is not UTF-8."
MSG_TOO_LARGE = f"The request body may hold at most {MAX_BATCH_BYTES // (1024 * 1024)} MiB."


def _refuse_oversized(parser_context: dict | None) -> None:
    """Checked before the body is read. DRF parses while authenticating (the OAuth2 backend
    looks at the form body), so this is the first place that can refuse a body by its size."""
    request = (parser_context or {}).get("request")
    length = (request.META.get("CONTENT_LENGTH") or "0") if request is not None else "0"
    if length.isdigit() and int(length) > MAX_BATCH_BYTES:
        raise PayloadTooLarge(MSG_TOO_LARGE, {"limit_bytes": MAX_BATCH_BYTES})


@contextmanager
def cycle_collection_paused():
    """A 10,000-event batch (or a 100,000-id filter) allocates a few hundred thousand objects
    (the parsed body, inputs, items, events, the answer) that live until the answer is sent;
    meanwhile CPython's cycle collector would make several full passes over every live object
    of the process (a tenth of the batch's time in the profile) to find cycles these objects
    do not form. Paused while the body is parsed and while the batch is recorded, resumed
    afterwards, even on an error."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class BoundedJSONParser(BaseParser):
    """application/json for large bodies (batches, filters): bounded by MAX_BATCH_BYTES instead
    of Django's DATA_UPLOAD_MAX_MEMORY_SIZE (2.5 MB), which DRF applies to its own JSONParser
    and which a batch of 10,000 events or a filter of 100,000 UUIDs exceeds — with an HTML
    400 outside the API's error shape. Deliberately not a JSONParser subclass for that reason."""

    media_type = "application/json"

    def parse(self, stream, media_type=None, parser_context=None):
        _refuse_oversized(parser_context)
        if stream is None:
            return None
        body = stream.read(MAX_BATCH_BYTES + 1)
        if len(body) > MAX_BATCH_BYTES:
            raise PayloadTooLarge(MSG_TOO_LARGE, {"limit_bytes": MAX_BATCH_BYTES})
        with cycle_collection_paused():
            return inputs.load_json(body)


class NDJSONBatch(list):
    """The parsed objects, plus ``lines``, the number of non-blank lines: lines past the
    limit are counted but not parsed, so an oversized batch is reported with its size without
    being held in memory."""

    lines = 0


class NDJSONParser(BaseParser):
    """application/x-ndjson: one JSON object per line; blank lines are ignored."""

    media_type = "application/x-ndjson"
    limit = 10_000

    def parse(self, stream, media_type=None, parser_context=None):
        _refuse_oversized(parser_context)
        batch = NDJSONBatch()
        view = (parser_context or {}).get("view")
        limit = getattr(view, "batch_limit", self.limit)
        received = 0
        for number, raw in enumerate(stream, start=1):
            received += len(raw)
            if received > MAX_BATCH_BYTES:  # a body sent without a length
                raise PayloadTooLarge(MSG_TOO_LARGE, {"limit_bytes": MAX_BATCH_BYTES})
            if not raw.strip():
                continue
            batch.lines += 1
            if batch.lines > limit:
                continue
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                raise ParseError(MSG_NDJSON_ENCODING.format(line=number)) from None
            try:
                document = json.loads(text, parse_constant=inputs.refuse_constant)
            except RecursionError:
                raise inputs.InputRefused(
                    inputs.MSG_TOO_DEEP.format(limit=settings.INPUT_MAX_JSON_DEPTH),
                    {"where": f"line {number}"},
                ) from None
            except json.JSONDecodeError as error:
                raise ParseError(MSG_NDJSON_LINE.format(line=number, reason=error.msg)) from None
            inputs.check_document(document, where=f"line {number}")
            batch.append(document)
        return batch


class NDJSONRenderer(renderers.BaseRenderer):
    """Declares the export's NDJSON media type for content negotiation; the body itself is
    streamed by the view, errors are rendered as JSON."""

    media_type = "application/x-ndjson"
    format = "ndjson"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):  # pragma: no cover
        return json.dumps(data).encode()


class CSVRenderer(renderers.BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):  # pragma: no cover
        return json.dumps(data).encode()


# Namespaces and ids are restricted (database check constraints) to characters that need no
# escaping in JSON or CSV, so a million lines are formatted without json.dumps or csv.writer.


def ndjson_rows(rows: list[tuple[str, str]]) -> str:
    return "".join([f'{{"namespace":"{ns}","subject_id":"{ext}"}}\n' for ns, ext in rows])


def csv_rows(rows: list[tuple[str, str]]) -> str:
    return "".join([f"{ns},{ext}\r\n" for ns, ext in rows])


CSV_HEADER = "namespace,subject_id\r\n"
