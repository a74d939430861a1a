from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from aliases.simulator import VicidialSimulator, demo_state


class Command(BaseCommand):
    help = "Serve the portal on 127.0.0.1:8000 together with a VICIdial simulator on :8089."

    def add_arguments(self, parser):
        parser.add_argument("--port", default="8000")
        parser.add_argument("--simulator-port", type=int, default=8089)

    def handle(self, *args, port: str, simulator_port: int, **options):
        if not settings.DEBUG:
            raise CommandError("rundemo is for trying the portal out; it needs DEBUG on.")
        state = demo_state(user=settings.VICIDIAL_API_USER, password=settings.VICIDIAL_API_PASS)
        simulator = VicidialSimulator(state).start(port=simulator_port)
        self.stdout.write(f"VICIdial simulator listening on {simulator.url}")
        if simulator.url != settings.VICIDIAL_API_URL:
            self.stderr.write(
                f"Note: VICIDIAL_API_URL is {settings.VICIDIAL_API_URL}, not the simulator."
            )
        try:
            call_command("runserver", f"127.0.0.1:{port}", use_reloader=False)
        finally:
            simulator.stop()
