from django.apps import AppConfig


class AliasesConfig(AppConfig):
    name = "aliases"
    verbose_name = "Phone aliases"

    def ready(self) -> None:
        from django.db.models import CharField
        from django.db.models.functions import Lower

        # Lets `login__lower=...` hit the LOWER(login) index on SQLite and PostgreSQL alike.
        CharField.register_lookup(Lower)

        from . import checks, signals  # noqa: F401  (registers checks and audit receivers)
        from .vicidial import hide_passwords_from_urllib3_logs

        hide_passwords_from_urllib3_logs()
