from django.apps import AppConfig


class AliasesConfig(AppConfig):
    name = "aliases"
    verbose_name = "Phone aliases"

    def ready(self) -> None:
        from django.db.models import CharField
        from django.db.models.functions import Lower

        # Lets `login__lower=...` hit the LOWER(login) index on SQLite and PostgreSQL alike.
        CharField.register_lookup(Lower)

        # Registers checks, audit receivers and the django-rules permissions.
        from . import checks, predicates, signals  # noqa: F401
        from .vicidial import hide_passwords_from_urllib3_logs

        hide_passwords_from_urllib3_logs()
