#!/bin/sh
# The image's entry point (Dockerfile): one image, one command per container.
#   web      gunicorn with gunicorn.conf.py (the default)
#   worker   the task worker that makes every VICIdial call and sends every email
#   migrate  the schema migrations: one run per release, before the new web and worker
#            containers start; as MIGRATE_DATABASE_URL's role (the owner) when it is set,
#            then the application role's grants again (docs/DEPLOY.md, Database roles)
# Anything else runs as given, e.g. `python manage.py createsuperuser`.
set -eu

command=${1:-web}
if [ "$#" -gt 0 ]; then shift; fi

case "$command" in
    web) exec gunicorn -c gunicorn.conf.py "$@" portal.wsgi:application ;;
    worker) exec python manage.py portal_worker "$@" ;;
    migrate) exec python manage.py portal_migrate --noinput "$@" ;;
    *) exec "$command" "$@" ;;
esac
