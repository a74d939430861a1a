# `make run` starts the demo; `make test` runs the whole suite on SQLite, then PostgreSQL.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PG_URL ?= postgres://postgres@127.0.0.1:5432/portal

.PHONY: run test test-sqlite test-postgres lint format migrations-check deploy-check bench mutation

$(VENV)/installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# A development .env: a random key, two simulated VICIdial servers with random passwords, and
# demo databases for them when MariaDB answers on 127.0.0.1:3306 (bin/dev_env.py).
.env:
	$(PYTHON) bin/dev_env.py $@

run: $(VENV)/installed .env
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo
	$(PY) manage.py rundemo

# pytest runs one process per CPU (`-n auto` in pyproject.toml); TEST_ARGS="-n 0" runs in one.
test: test-sqlite test-postgres

test-sqlite: $(VENV)/installed
	env -u DATABASE_URL $(PY) -m pytest $(TEST_ARGS)

test-postgres: $(VENV)/installed
	DATABASE_URL=$(PG_URL) $(PY) -m pytest $(TEST_ARGS)

lint: $(VENV)/installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/hadolint Dockerfile

format: $(VENV)/installed
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

migrations-check: $(VENV)/installed
	DJANGO_SETTINGS_MODULE=portal.settings_test $(PY) manage.py makemigrations --check --dry-run

deploy-check: $(VENV)/installed
	DEBUG=false SECRET_KEY=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(50))') \
	VICIDIAL_API_PASS=$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(18))') VICIDIAL_API_URL=https://vicidial.example.com/vicidial/non_agent_api.php \
	AUDIT_HMAC_KEYS=k1:$$($(PY) -c 'import secrets; print(secrets.token_urlsafe(32))') \
	ALLOWED_HOSTS=portal.example.com $(PY) manage.py check --deploy --fail-level WARNING

bench: $(VENV)/installed
	$(PY) bench/load.py

# Mutation testing on SQLite, one mutant at a time (the machine is small). A fresh mutants/
# each run: mutmut never refreshes the unmutated files it copied, so a kept copy goes stale.
# `make mutation MODULES="aliases/validators.py aliases/vicidial/*"` tests only those modules.
MODULES ?=
mutant_globs = $(foreach m,$(MODULES),"$(subst /,.,$(patsubst %.py,%,$(patsubst %/*,%,$(m)))).*")

mutation: $(VENV)/installed
	rm -rf mutants
	env -u DATABASE_URL $(VENV)/bin/mutmut run --max-children 1 $(mutant_globs)
	@echo
	@$(PY) bench/mutation_summary.py $(foreach m,$(MODULES),"$(m)")
