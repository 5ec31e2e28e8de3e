from datetime import datetime

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from governance.audit import chain


def _moment(value: str) -> datetime:
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise CommandError(
            f"{value!r} is not an ISO-8601 time such as 2026-11-01T00:00Z."
        ) from None
    if moment.tzinfo is None:
        raise CommandError(f"{value!r} needs a time zone, such as Z or +01:00.")
    return moment


class Command(BaseCommand):
    help = (
        "Recompute the ledger's hash chain and check every signed checkpoint; prints "
        '"OK: …" (exit 0) or "FAIL at position P: reason" (exit 1). Unsealed entries are '
        "counted, not judged. With --export PATH, write a bundle for "
        "tools/verify_audit_bundle.py instead (a directory, or a .zip file)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--export", metavar="PATH", help="write a verification bundle")
        parser.add_argument("--start", type=_moment, help="export entries from this time on")
        parser.add_argument("--end", type=_moment, help="export entries before this time")

    def handle(self, *args, export=None, start=None, end=None, **options):
        try:
            if export:
                if start and end and end <= start:
                    raise CommandError("--end must be after --start.")
                manifest = chain.audit_bundle_write(export, start=start, end=end)
                window = manifest["entries_window"]
                entries = (
                    "no entries"
                    if window is None
                    else (f"entries at positions {window['from']} to {window['to']}")
                )
                self.stdout.write(f"Wrote {export}: chain of {manifest['size']} links, {entries}.")
                return
            result = chain.verify_database()
            unsealed = chain.unsealed_count()
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        self.stdout.write(chain.describe(result))
        if unsealed:
            self.stdout.write(f"{unsealed} entries are not sealed yet (manage.py seal_audit).")
        if not result.ok:
            raise SystemExit(1)
