"""Reset a person's second factor (lost authenticator and recovery codes), as another
administrator, with the reason recorded in the ledger."""

from django.core.management.base import BaseCommand, CommandError

from governance.accounts.models import User
from governance.accounts.second_factor import second_factor_reset
from governance.errors import ApplicationError


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("username", help="Whose second factor to reset")
        parser.add_argument("--by", required=True, help="The administrator doing it")
        parser.add_argument(
            "--reason", required=True, help="Why, e.g. the ticket of the identity check"
        )

    def handle(self, *args, username, by, reason, **options):
        user = User.objects.filter(username=username, kind=User.Kind.PERSON).first()
        actor = User.objects.filter(username=by, kind=User.Kind.PERSON).first()
        if user is None or actor is None:
            raise CommandError("No such person.")
        try:
            second_factor_reset(actor=actor, user=user, reason=reason)
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(
            f"{username}'s second factor was reset; they set it up again at their next sign-in."
        )
