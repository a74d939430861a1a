import signal
import threading

from django.core.management.base import BaseCommand, CommandError

from aliases.simulator import DEMO_PHONES, StoreError, VicidialSimulator, demo_state
from aliases.vicidial_db import VicidialDatabaseError


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
        parser.add_argument(
            "--db-url",
            default="",
            help="keep phones and aliases in VICIdial's tables in this MariaDB, e.g. "
            "mysql://root@127.0.0.1:3306/vicidial_demo (database and tables made if missing)",
        )

    def handle(self, *args, host: str, port: int, lenient: bool, db_url: str, **options) -> None:
        try:
            state = demo_state(strict_sql=not lenient, db_url=db_url or None)
        except (StoreError, VicidialDatabaseError) as error:
            raise CommandError(f"Cannot use the database for the simulator: {error}") from None
        simulator = VicidialSimulator(state, log=self.stdout.write).start(host=host, port=port)
        (api_user,) = state.users.values()
        phones = ", ".join(f"{phone.login} ({phone.protocol})" for phone in DEMO_PHONES)
        self.stdout.write(f"VICIdial simulator on {simulator.url}")
        self.stdout.write(
            f"API user {api_user.user}; SQL mode {'lenient' if lenient else 'strict'}; "
            f"phones: {phones}. Quit with CONTROL-C."
        )
        self.stdout.write(f"Phones and aliases kept in {state.store}.")
        if threading.current_thread() is threading.main_thread():
            # Stop on SIGTERM too: a script that starts it in the background may ignore SIGINT.
            signal.signal(signal.SIGTERM, lambda *_: self.stop_requested.set())
        try:
            self.stop_requested.wait()
        except KeyboardInterrupt:
            pass
        finally:
            simulator.stop()
            state.close()
