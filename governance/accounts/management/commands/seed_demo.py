from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.utils.module_loading import import_string

from governance.accounts.models import User
from governance.accounts.roles import Role
from governance.accounts.services import user_create, user_roles_set

# Local demo only: the passwords are printed and documented. The command refuses to run with
# DEBUG off unless told explicitly that this is not production.
DEMO_USERS = [
    ("alice", Role.STEWARD, "Alice", "Steward"),
    ("petra", Role.PRIVACY_OFFICER, "Petra", "Privacy"),
    ("bob", Role.ENGINEER, "Bob", "Engineer"),
    ("audrey", Role.AUDITOR, "Audrey", "Auditor"),
    ("admin", Role.ADMIN, "Ada", "Admin"),
]
DEMO_PASSWORD_SUFFIX = "-demo-2026"  # noqa: S105 (published demo passwords)


def demo_password(username: str) -> str:
    return f"{username}{DEMO_PASSWORD_SUFFIX}"


class Command(BaseCommand):
    help = "Create one demo user per role (idempotent). Local development only."

    def add_arguments(self, parser):
        parser.add_argument(
            "--allow-without-debug",
            action="store_true",
            help="Run even though DEBUG is off (never in production).",
        )

    @transaction.atomic
    def handle(self, *args, allow_without_debug=False, **options):
        if not settings.DEBUG and not allow_without_debug:
            raise CommandError(
                "seed_demo creates users with published passwords; it runs only "
                "with DEBUG=true (or --allow-without-debug)."
            )
        rows = []
        for username, role, first, last in DEMO_USERS:
            user = User.objects.filter(username=username).first()
            if user is None:
                user = user_create(
                    username=username,
                    email=f"{username}@example.org",
                    password=demo_password(username),
                    first_name=first,
                    last_name=last,
                    roles=[role],
                    actor=None,
                )
                state = "created"
            else:
                if set(user.roles) != {role}:
                    user_roles_set(user=user, roles=[role], actor=None)
                state = "exists"
            rows.append((username, demo_password(username), role.label, state))
        # Apps add their demo data through ``demo_seeder = "module.function"`` on their AppConfig;
        # each seeder takes (stdout=...) and must be idempotent.
        for app_config in apps.get_app_configs():
            seeder = getattr(app_config, "demo_seeder", None)
            if seeder:
                import_string(seeder)(stdout=self.stdout)
        self.stdout.write("Demo logins (local only):")
        for username, password, label, state in rows:
            self.stdout.write(f"  {username:<8} {password:<20} {label:<16} ({state})")
