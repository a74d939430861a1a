"""Settings for the phone alias portal, read from the environment (and an optional .env file)."""

from datetime import timedelta
from pathlib import Path

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

from portal.database import database_settings
from portal.logs import logging_settings

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
env.read_env(BASE_DIR / ".env", overwrite=False)

DEBUG = env.bool("DEBUG", default=False)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="dev-only-insecure-key-do-not-use-in-production")
else:
    # Failing at start-up beats running production with a guessable key.
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if not SECRET_KEY:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "crispy_forms",
    "crispy_bootstrap5",
    "csp",
    "axes",
    "rules",
    "pgtrigger",
    "django_tasks",
    "django_tasks_db",
    "aliases",
]

MIDDLEWARE = [
    # First: load balancers probe /healthz over plain http by address, and it must answer
    # while PostgreSQL is down (no host check, SSL redirect, session or axes before it).
    "aliases.middleware.HealthzMiddleware",
    # Next: every other response, a redirect to HTTPS included, carries the request id.
    "aliases.request_id.RequestIdMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "aliases.middleware.RejectNulMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "rules.permissions.ObjectPermissionBackend",
    # Reads a user's permissions and roles in one query, for ModelBackend to answer from.
    "aliases.auth_backends.OnePermissionQueryBackend",
    "django.contrib.auth.backends.ModelBackend",
]

ROOT_URLCONF = "portal.urls"
WSGI_APPLICATION = "portal.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "aliases.context_processors.portal_roles",
            ],
        },
    },
]

# DATABASE_URL, with CONN_MAX_AGE or DATABASE_POOL (portal/database.py).
DATABASES = {"default": database_settings(env, base_dir=BASE_DIR)}
# The owner role's URL, for `manage.py portal_migrate` only: it migrates as the owner and
# grants DATABASE_URL's role its privileges (docs/DEPLOY.md, Database roles).
MIGRATE_DATABASE_URL = env.str("MIGRATE_DATABASE_URL", default="")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "aliases:home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
# Dates and times as Y-m-d H:i:s plus the zone, everywhere (portal/formats/en_GB/formats.py).
FORMAT_MODULE_PATH = ["portal.formats"]
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=BASE_DIR / "staticfiles")
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

CRISPY_ALLOWED_TEMPLATE_PACKS = "bootstrap5"
CRISPY_TEMPLATE_PACK = "bootstrap5"

# VICIdial non-agent API. The password comes from the environment only.
VICIDIAL_API_URL = env.str(
    "VICIDIAL_API_URL", default="http://127.0.0.1:8089/vicidial/non_agent_api.php"
)
VICIDIAL_API_USER = env.str("VICIDIAL_API_USER", default="6666")
VICIDIAL_API_PASS = env.str("VICIDIAL_API_PASS", default="")
VICIDIAL_API_SOURCE = env.str("VICIDIAL_API_SOURCE", default="portal")
VICIDIAL_TIMEOUT = env.float("VICIDIAL_TIMEOUT", default=10.0)
VICIDIAL_CONNECT_TIMEOUT = env.float("VICIDIAL_CONNECT_TIMEOUT", default=3.0)
VICIDIAL_HTTP_METHOD = env.str("VICIDIAL_HTTP_METHOD", default="POST").upper()
# One deadline per call over connect, send and read (the read timeout is per socket read).
# Calls run in the task worker, never in a web request; gunicorn.conf.py still refuses a
# worker timeout at or below the longest deadline.
VICIDIAL_TOTAL_DEADLINE = env.float("VICIDIAL_TOTAL_DEADLINE", default=20.0)
# Answers longer than this keep their start, result line and end (real ones reach ~90 KB).
VICIDIAL_MAX_BODY_BYTES = env.int("VICIDIAL_MAX_BODY_BYTES", default=256 * 1024)
# Calls in flight to VICIdial at once, across every process: a burst with a bad password
# then costs at most this many bad logins.
VICIDIAL_MAX_IN_FLIGHT = env.int("VICIDIAL_MAX_IN_FLIGHT", default=1)
# Calls started per second to one VICIdial server, across every worker (0: no limit).
VICIDIAL_CALLS_PER_SECOND = env.float("VICIDIAL_CALLS_PER_SECOND", default=5.0)
if not DEBUG and not VICIDIAL_API_PASS:
    raise ImproperlyConfigured("VICIDIAL_API_PASS must be set when DEBUG is off.")
# The default server's name on pages, when there are several.
VICIDIAL_SERVER_LABEL = env.str("VICIDIAL_SERVER_LABEL", default="")
# Further VICIdial servers, as DATABASES lists databases: VICIDIAL_SERVERS=east,west, then
# VICIDIAL_EAST_API_URL, VICIDIAL_EAST_API_PASS, ... per server (aliases/vicidial/servers.py).
# Unset keys take the default server's value, except the URLs and the password.
VICIDIAL_SERVERS = {
    name: {
        key: env.str(f"VICIDIAL_{name.upper()}_{key}", default="")
        for key in (
            "API_URL",
            "API_USER",
            "API_PASS",
            "API_SOURCE",
            "TIMEOUT",
            "CONNECT_TIMEOUT",
            "HTTP_METHOD",
            "TOTAL_DEADLINE",
            "MAX_BODY_BYTES",
            "MAX_IN_FLIGHT",
            "CALLS_PER_SECOND",
            "DB_URL",
            "LABEL",
            "SETTLE_DELAY",
        )
    }
    for name in env.list("VICIDIAL_SERVERS", default=[])
    if name != "default"
}
for _name, _server in VICIDIAL_SERVERS.items():
    if not DEBUG and not _server["API_PASS"]:
        raise ImproperlyConfigured(
            f"VICIDIAL_{_name.upper()}_API_PASS must be set when DEBUG is off."
        )

# Production hardening; plain HTTP on loopback stays usable while DEBUG is on.
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE", default=8 * 3600)
X_FRAME_OPTIONS = "DENY"
# No inline script or style anywhere; Bootstrap's form icons are data: SVGs.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "form-action": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "frame-ancestors": [NONE],
    }
}

# Login throttling per username and address: a guessing run cannot lock a user out from
# everywhere; and per address (aliases/login_throttle.py), so one address cannot try every user.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
# Failures from one address across usernames (password spraying); each username counts at
# most AXES_FAILURE_LIMIT, so one locked-out person does not lock a whole office's NAT address.
AXES_IP_FAILURE_LIMIT = env.int("AXES_IP_FAILURE_LIMIT", default=20)
AXES_HANDLER = "aliases.login_throttle.PortalAxesHandler"
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_CLIENT_IP_CALLABLE = "aliases.audit.client_ip"
if env.bool("BEHIND_TLS_PROXY", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# One JSON object per line on stdout (json), or a plain line on stderr (plain), with the
# request id in each and the passwords masked (portal/logs.py).
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="plain" if DEBUG else "json")
LOGGING = logging_settings(level=LOG_LEVEL, log_format=LOG_FORMAT)
LOGGING_CONFIG = "portal.logs.configure"
# Take the request id from the X-Request-ID header (8-32 letters, digits or dashes) only
# behind a proxy that sets it: it becomes the audit correlation id of the request's events.
TRUST_X_REQUEST_ID = env.bool("TRUST_X_REQUEST_ID", default=False)
# Background tasks (Django's Tasks API): every VICIdial call and every email runs in a task
# worker (manage.py portal_worker). The database queue needs no broker; docs/DEPLOY.md says
# how to move to another backend (RQ on Redis).
TASKS = {
    "default": {
        "BACKEND": env.str("TASKS_BACKEND", default="django_tasks_db.DatabaseBackend"),
        "QUEUES": ["default"],
    }
}
# The home page warns admins when no worker was seen for this long, or when an approved
# request has waited this long for one.
WORKER_SILENT_AFTER = timedelta(seconds=env.int("WORKER_SILENT_AFTER_SECONDS", default=30))
QUEUE_STALE_AFTER = timedelta(seconds=env.int("QUEUE_STALE_AFTER_SECONDS", default=120))

# Email: the console in development, SMTP from EMAIL_URL in production
# (smtp+tls://user:password@mail.example.com:587).
_email = env.email_url("EMAIL_URL", default="consolemail://" if DEBUG else "smtp://localhost:25")
EMAIL_BACKEND = _email["EMAIL_BACKEND"]
EMAIL_HOST = _email.get("EMAIL_HOST") or "localhost"
EMAIL_PORT = _email.get("EMAIL_PORT") or 25
EMAIL_HOST_USER = _email.get("EMAIL_HOST_USER") or ""
EMAIL_HOST_PASSWORD = _email.get("EMAIL_HOST_PASSWORD") or ""
EMAIL_USE_TLS = _email.get("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = _email.get("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="phone-alias-portal@localhost")
# Links in emails start with this (the portal's address as people reach it).
PORTAL_BASE_URL = env.str("PORTAL_BASE_URL", default="http://127.0.0.1:8000").rstrip("/")
# At most one "requests are waiting for you" email per admin this often.
NOTIFY_PENDING_EVERY = timedelta(minutes=env.int("NOTIFY_PENDING_EVERY_MINUTES", default=5))

# /healthz asks each VICIdial server for `version` with this timeout, and keeps each answer
# this long, so frequent probes from several load balancers cost VICIdial little.
HEALTHZ_VICIDIAL_TIMEOUT = env.float("HEALTHZ_VICIDIAL_TIMEOUT", default=2.0)
HEALTHZ_CACHE_SECONDS = env.int("HEALTHZ_CACHE_SECONDS", default=10)

# Base delay before retrying a call that never reached VICIdial (doubled, with jitter).
VICIDIAL_RETRY_BACKOFF = env.float("VICIDIAL_RETRY_BACKOFF", default=0.5)
# Only behind a proxy that sets X-Forwarded-For: the audit trail then records its last hop.
AUDIT_TRUST_X_FORWARDED_FOR = env.bool("AUDIT_TRUST_X_FORWARDED_FOR", default=False)
# The audit chain's MAC keys, "id:base64secret,...": the first (or AUDIT_HMAC_KEY_ID) signs new
# events, the others verify older ones. Environment only: whoever can write the database must
# not be able to forge events (docs/DEPLOY.md, "Audit keys").
AUDIT_HMAC_KEYS = env.str("AUDIT_HMAC_KEYS", default="")
AUDIT_HMAC_KEY_ID = env.str("AUDIT_HMAC_KEY_ID", default="")
if not AUDIT_HMAC_KEYS:
    if not DEBUG:
        raise ImproperlyConfigured("AUDIT_HMAC_KEYS must be set when DEBUG is off.")
    AUDIT_HMAC_KEYS = "dev:ZGV2ZWxvcG1lbnQtb25seSBhdWRpdCBrZXk7IG5ldmVyIGluIHByb2R1Y3Rpb24="
# The Ed25519 private key (PEM) that signs audit digests: only where audit_checkpoint runs.
AUDIT_SIGNING_KEY_FILE = env.str("AUDIT_SIGNING_KEY_FILE", default="")
AUDIT_SIGNING_KEY = env.str("AUDIT_SIGNING_KEY", default="")
# Optional read-only access to VICIdial's own database, to sync the extension catalogue.
VICIDIAL_DB_URL = env.str("VICIDIAL_DB_URL", default="")
# Seconds after an unknown outcome's last call before VICIdial's database settles it; it must
# exceed VICIDIAL_TOTAL_DEADLINE (empty: that deadline plus 10 s).
VICIDIAL_SETTLE_DELAY = env.str("VICIDIAL_SETTLE_DELAY", default="")
# Error reports hide URL- and DSN-like settings too: VICIDIAL_DB_URL holds a password.
DEFAULT_EXCEPTION_REPORTER_FILTER = "portal.error_reports.SecretsHidingFilter"
