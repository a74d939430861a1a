"""The WSGI application gunicorn serves.

It runs the system checks first and refuses to load with any error among them, so a
configuration the checks reject (e.g. VICIDIAL_HTTP_METHOD=PUT) stops gunicorn at start-up
instead of failing approvals one by one.
"""

import os

from django.core import checks
from django.core.exceptions import ImproperlyConfigured
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()


def _refuse_bad_configuration() -> None:
    errors = [
        message
        for message in checks.run_checks(include_deployment_checks=False)
        if message.is_serious() and not message.is_silenced()
    ]
    if errors:
        raise ImproperlyConfigured(
            "Refusing to start: the system checks found errors.\n"
            + "\n".join(str(message) for message in errors)
        )


_refuse_bad_configuration()
