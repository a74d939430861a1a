import signal
import threading

from django.core.management.base import BaseCommand

from aliases.simulator import DEMO_PHONES, VicidialSimulator, demo_state


class Command(BaseCommand):
    help = (
        "Serve a VICIdial non_agent_api.php simulator in the foreground, with the demo phones "
        "and the API user from VICIDIAL_API_USER / VICIDIAL_API_PASS."
    )
    requires_system_checks = []

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.stop_requested = threading.Event()

    def add_arguments(self, parser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8089)
        parser.add_argument(
            "--lenient",
            action="store_true",
            help="non-strict SQL mode: over-long values are truncated instead of HTTP 500",
        )

    def handle(self, *args, host: str, port: int, lenient: bool, **options) -> None:
        state = demo_state(strict_sql=not lenient)
        simulator = VicidialSimulator(state, log=self.stdout.write).start(host=host, port=port)
        (api_user,) = state.users.values()
        phones = ", ".join(f"{phone.login} ({phone.protocol})" for phone in DEMO_PHONES)
        self.stdout.write(f"VICIdial simulator on {simulator.url}")
        self.stdout.write(
            f"API user {api_user.user}; SQL mode {'lenient' if lenient else 'strict'}; "
            f"phones: {phones}. Quit with CONTROL-C."
        )
        if threading.current_thread() is threading.main_thread():
            # Stop on SIGTERM too: a script that starts it in the background may ignore SIGINT.
            signal.signal(signal.SIGTERM, lambda *_: self.stop_requested.set())
        try:
            self.stop_requested.wait()
        except KeyboardInterrupt:
            pass
        finally:
            simulator.stop()
