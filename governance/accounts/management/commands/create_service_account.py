from django.core.management.base import BaseCommand, CommandError

from governance.accounts.models import User
from governance.accounts.services import service_account_create
from governance.errors import ApplicationError


class Command(BaseCommand):
    help = (
        "Create a service account (OAuth2 client-credentials application) for a training "
        "job. Prints the client id and secret once; the secret is stored hashed."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", help="lowercase letters, digits and hyphens")
        parser.add_argument("--owner", required=True, help="username of the accountable person")
        parser.add_argument("--description", default="")

    def handle(self, *args, name, owner, description, **options):
        try:
            owner_user = User.objects.get(username=owner)
        except User.DoesNotExist:
            raise CommandError(f"No user named {owner!r}.") from None
        try:
            account, secret = service_account_create(
                name=name, owner=owner_user, description=description, actor=None
            )
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"Service account: {account.name} (owner {owner_user.username})")
        self.stdout.write(f"client_id:     {account.client_id}")
        self.stdout.write(f"client_secret: {secret}")
        self.stdout.write(
            self.style.WARNING(
                "Store the secret now: it is kept only as a hash and cannot be shown again."
            )
        )
