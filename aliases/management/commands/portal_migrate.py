import environ
from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import connections, transaction

from aliases.db_roles import apply_grants, checked_role_name, connected_as


class Command(BaseCommand):
    help = (
        "Migrate as the owner role and then grant the application role its privileges "
        "(portal_db_roles): the owner's connection comes from MIGRATE_DATABASE_URL, the "
        "application role is DATABASE_URL's user (or --app). Without either it is a plain "
        "migrate, as DATABASE_URL's role (docs/DEPLOY.md, Database roles)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--noinput",
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Ask nothing (migrate's own option).",
        )
        parser.add_argument(
            "--app",
            help="The application role, when DATABASE_URL is the owner's own (no "
            "MIGRATE_DATABASE_URL); default: DATABASE_URL's user.",
        )

    def handle(self, *args, interactive: bool, app: str | None, **options):
        default = connections["default"].settings_dict
        owner_config = self._owner_config(default)
        if owner_config is None and app is None:
            call_command("migrate", interactive=interactive, stdout=self.stdout)
            self.stdout.write("MIGRATE_DATABASE_URL is not set: migrated as DATABASE_URL's role.")
            return
        config = owner_config or default
        owner, app = config["USER"], app or default["USER"]
        try:
            checked_role_name(owner)
            checked_role_name(app)
        except ValueError as error:
            raise CommandError(str(error)) from error
        if owner == app:
            raise CommandError(
                f"The owner and the application role are both {app}: MIGRATE_DATABASE_URL "
                "must name the owner role, DATABASE_URL the application role."
            )
        with connected_as(config) as connection:
            call_command("migrate", interactive=interactive, stdout=self.stdout)
            try:
                with transaction.atomic():
                    tables = apply_grants(connection, owner=owner, app=app)
            except ImproperlyConfigured as error:
                raise CommandError(str(error)) from error
        self.stdout.write(f"Migrated as {owner}; {app} may use its {tables} tables.")

    def _owner_config(self, default: dict) -> dict | None:
        if not settings.MIGRATE_DATABASE_URL:
            return None
        # Parsed here, not as a second database in DATABASES: then the test runner and the
        # web processes would open it too, and only this step may hold the owner's password.
        owner = environ.Env.db_url_config(settings.MIGRATE_DATABASE_URL)
        if owner["ENGINE"] != default["ENGINE"] or "postgresql" not in owner["ENGINE"]:
            raise CommandError("MIGRATE_DATABASE_URL and DATABASE_URL must both be PostgreSQL.")
        # The grants would otherwise land in another database than the one the portal uses.
        where = ("NAME", "HOST", "PORT")
        if [str(owner.get(key) or "") for key in where] != [
            str(default.get(key) or "") for key in where
        ]:
            raise CommandError(
                "MIGRATE_DATABASE_URL must name the same database, host and port as DATABASE_URL."
            )
        return owner
