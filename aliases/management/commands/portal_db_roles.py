from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction

from aliases.db_roles import apply_grants, checked_role_name, grant_script


class Command(BaseCommand):
    help = (
        "Give the application role exactly its privileges on the owner role's tables: "
        "SELECT, INSERT, UPDATE, DELETE only where the portal deletes, SELECT and INSERT on "
        "the audit trail, no TRUNCATE; plus default privileges for tables of later "
        "migrations. Idempotent: run it as the owner (or a superuser) after every migrate. "
        "Creates no role and sets no password (docs/DEPLOY.md, Database roles)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--app", required=True, help="The role the portal connects as.")
        parser.add_argument(
            "--owner",
            help="The role that owns the tables and migrates (default: the connected role).",
        )
        parser.add_argument(
            "--print",
            action="store_true",
            dest="print_only",
            help="Print the SQL (a psql script) instead of running it; needs --owner.",
        )

    def handle(self, *args, app: str, owner: str | None, print_only: bool, **options):
        try:
            checked_role_name(app)
            if owner is not None:
                checked_role_name(owner)
        except ValueError as error:
            raise CommandError(str(error)) from error
        if print_only:
            if owner is None:
                raise CommandError("--print needs --owner: it connects to no database.")
            self.stdout.write(grant_script(owner=owner, app=app), ending="")
            return
        if connection.vendor != "postgresql":
            raise CommandError("Database roles are for PostgreSQL; this database is not.")
        with transaction.atomic():
            if owner is None:
                with connection.cursor() as cursor:
                    cursor.execute("SELECT current_user")
                    owner = cursor.fetchone()[0]
            try:
                tables = apply_grants(connection, owner=owner, app=app)
            except (ImproperlyConfigured, ValueError) as error:
                raise CommandError(str(error)) from error
        self.stdout.write(
            f"{app} may now use the {tables} tables of {owner}: no TRUNCATE, no DELETE or "
            "UPDATE on the audit trail, no ALTER; new tables of later migrations too."
        )
