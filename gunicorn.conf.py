"""gunicorn's configuration: `gunicorn -c gunicorn.conf.py portal.wsgi:application`.

Every value comes from the environment (docs/DEPLOY.md, "The image"), so the image runs
unchanged on a laptop, a VM or behind a load balancer.
"""

import os

from portal.cores import usable_cores
from portal.logs import gunicorn_logconfig_dict

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
# The usual 2 x cores + 1, capped: each worker holds its own PostgreSQL connection(s).
workers = int(os.environ.get("GUNICORN_WORKERS", min(2 * usable_cores() + 1, 8)))
# Above 1, gunicorn runs its threaded worker: one database connection per thread.
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
# Web requests never wait for a VICIdial call (the task worker makes them), but the timeout
# stays above the call deadline so a path that ever did could not be killed mid-call:
# on_starting below refuses to start otherwise.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = int(os.environ.get("GUNICORN_GRACEFUL_TIMEOUT", "30"))
keepalive = int(os.environ.get("GUNICORN_KEEPALIVE", "5"))
# Only these addresses may set X-Forwarded-Proto and friends (the load balancer's).
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

accesslog = "-"
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
# The path without its query string, and no referrer: queries carry search terms, phone
# logins and names, which have no place in a log kept for months.
access_log_format = '%(h)s %(l)s %(u)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(M)sms "%(a)s"'
# gunicorn's own lines as the portal's: JSON on stdout, with the request id, passwords masked.
logconfig_dict = gunicorn_logconfig_dict()

# The heartbeat file on an overlay filesystem can stall workers; /dev/shm is memory.
SHARED_MEMORY = "/dev/shm"  # noqa: S108 - gunicorn's own file, in a folder only for memory
if os.path.isdir(SHARED_MEMORY):
    worker_tmp_dir = SHARED_MEMORY
# gunicorn's runtime control socket would sit in $HOME, which is read-only in the image.
control_socket_disable = True


def on_starting(server) -> None:
    """Refuse a worker timeout that a VICIdial call could outlast (any server's deadline)."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
    from aliases.vicidial.servers import longest_deadline

    deadline = longest_deadline()
    if server.cfg.timeout <= deadline:
        raise RuntimeError(
            f"GUNICORN_TIMEOUT ({server.cfg.timeout} s) must exceed the longest "
            f"VICIDIAL_*TOTAL_DEADLINE ({deadline:g} s)."
        )
