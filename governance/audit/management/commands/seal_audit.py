from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from governance.audit import chain


class Command(BaseCommand):
    help = (
        "Seal every committed ledger entry that has no chain position yet, then write a signed "
        "checkpoint (what the beat job governance.audit.tasks.seal_task does, on demand)."
    )

    def handle(self, *args, **options):
        try:
            result = chain.seal_all()
            checkpoint = chain.checkpoint_write(note="manage.py seal_audit")
        except ImproperlyConfigured as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"Sealed {result.sealed} entries; chain size {checkpoint.size}, head "
            f"{checkpoint.head_hash}; checkpoint signed by {checkpoint.kid}."
        )
