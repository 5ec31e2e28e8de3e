"""Logging filters.

A refused request (403, 404, ...) is the app working as designed: Django logs it with the
exception's traceback, which buries real errors. ``ClientErrorsWithoutTraceback`` keeps the one
line ("Forbidden (Permission denied): /path") and drops the traceback of responses below 500."""

from __future__ import annotations

import logging


class ClientErrorsWithoutTraceback(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if status is not None and status < 500:
            record.exc_info = None
            record.exc_text = None
        return True
