"""What Django's error reports may show of the settings."""

import re

from django.views.debug import SafeExceptionReporterFilter


class SecretsHidingFilter(SafeExceptionReporterFilter):
    """Django's filter, plus URLs and DSNs: VICIDIAL_DB_URL carries a MySQL password, and
    any other *_URL setting may carry credentials in its user-info part."""

    hidden_settings = re.compile(
        "API|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|_URL|DSN", flags=re.IGNORECASE
    )
