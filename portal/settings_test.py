"""Test settings: production settings with DEBUG off, plus what makes tests fast and hermetic."""

import os
import secrets

# A task worker a test starts (tests/workers.py): it keeps the secrets, VICIdial address,
# database and limits the parent test passes in its environment, so both sign one audit
# chain and call one simulator, and it takes its tasks from the database queue.
TEST_CHILD = os.environ.get("PORTAL_TEST_CHILD") == "1"

# Set before the settings module reads the environment (and any developer's .env file).
os.environ["DEBUG"] = "false"
if not TEST_CHILD:
    os.environ["VICIDIAL_API_USER"] = "6666"
    os.environ["SECRET_KEY"] = "tests-" + secrets.token_urlsafe(40)
    # A fresh VICIdial password per run, so a leak test can search for a value nobody typed.
    os.environ["VICIDIAL_API_PASS"] = "Tpw" + secrets.token_urlsafe(12)
    # A fresh audit MAC key per run, for the same reason; digests' signing keys are per test.
    os.environ["AUDIT_HMAC_KEYS"] = "run:" + secrets.token_urlsafe(32)
    os.environ.pop("AUDIT_HMAC_KEY_ID", None)
    os.environ["VICIDIAL_API_URL"] = "http://127.0.0.1:9/vicidial/non_agent_api.php"
os.environ["SECURE_SSL_REDIRECT"] = "false"
# Plain lines for a person reading a failure; tests of the JSON lines set their own formatter.
os.environ.setdefault("LOG_FORMAT", "plain")
os.environ["ALLOWED_HOSTS"] = "testserver,localhost,127.0.0.1"

from .settings import *  # noqa: E402,F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
# Threads in the concurrency tests must not keep connections past their work.
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":  # noqa: F405
    # A lock wait a test did not mean (a thread or process left holding a row, or CREATE INDEX
    # CONCURRENTLY in a migration test waiting for an open transaction) fails with PostgreSQL's
    # own message instead of hanging the run.
    DATABASES["default"].setdefault("OPTIONS", {})["options"] = "-c lock_timeout=60s"  # noqa: F405
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
VICIDIAL_RETRY_BACKOFF = 0.0
VICIDIAL_TIMEOUT = 2.0
VICIDIAL_CONNECT_TIMEOUT = 1.0
VICIDIAL_TOTAL_DEADLINE = 3.0
# Tests serve static files from the source folders; there is no collectstatic output.
STATIC_ROOT = None
WHITENOISE_USE_FINDERS = True
WHITENOISE_AUTOREFRESH = True
# Tasks run at once, in the process that enqueues them; the worker tests start real workers
# on the database queue (tests/workers.py).
if not TEST_CHILD:
    TASKS = {"default": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend"}}
    VICIDIAL_CALLS_PER_SECOND = 0.0
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
