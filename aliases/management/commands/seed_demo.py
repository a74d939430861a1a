from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError

from aliases.models import Extension
from aliases.roles import Role
from aliases.simulator import demo_phones
from aliases.simulator.demo import simulated
from aliases.vicidial.servers import vicidial_servers

# Demo logins printed in the README; refused outside DEBUG so they never reach production.
DEMO_USERS = [
    ("supervisor", "supervisor-demo", [Role.SUPERVISOR], False),
    ("supervisor2", "supervisor2-demo", [Role.SUPERVISOR], False),
    ("admin", "admin-demo", [Role.ADMIN], True),
    ("admin2", "admin2-demo", [Role.ADMIN], True),
    ("auditor", "auditor-demo", [Role.AUDITOR], True),
]


class Command(BaseCommand):
    help = "Create the demo users (supervisor, admin, auditor and seconds) with known passwords."

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="Allow it even when DEBUG is off.")

    def handle(self, *args, force: bool = False, **options):
        if not settings.DEBUG and not force:
            raise CommandError("Demo users have public passwords; refusing while DEBUG is off.")
        User = get_user_model()
        for username, password, roles, is_staff in DEMO_USERS:
            user, created = User.objects.get_or_create(username=username)
            user.set_password(password)
            user.is_staff = is_staff
            # The demo's emails go to the console; each persona's shows who gets what.
            user.email = user.email or f"{username}@example.com"
            user.save()
            user.groups.set(Group.objects.filter(name__in=[role.value for role in roles]))
            verb = "created" if created else "reset"
            self.stdout.write(f"{verb} {username} ({', '.join(r.label for r in roles)})")
        # Each simulated server's phones in its catalogue, so the request form shows what
        # each login is.
        for server in vicidial_servers():
            if not simulated(server):
                continue
            phones = demo_phones(server.name)
            for phone in phones:
                Extension.objects.update_or_create(
                    server=server.name,
                    login=phone.login,
                    defaults={
                        "extension": phone.extension,
                        "protocol": phone.protocol,
                        "server_ip": phone.server_ip,
                        "description": "demo phone",
                        "known_to_vicidial": True,
                    },
                )
            self.stdout.write(f"{len(phones)} demo phones in the catalogue of {server.label}")
