# omnidesk — two commands matter: `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000
export DJANGO_SETTINGS_MODULE := omnidesk.settings

.PHONY: run test bench bench-smoke lint typecheck venv chromium system-packages messages clean deploy-check

# The marker carries a hash of the requirements, so any change to them reinstalls, whatever the file dates say.
REQUIREMENTS_HASH := $(shell cat requirements.txt requirements-dev.txt | sha1sum | cut -c1-12)
MARKER := $(VENV)/.installed-$(REQUIREMENTS_HASH)

$(MARKER):
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements-dev.txt
	rm -f $(VENV)/.installed-*
	touch $@

venv: $(MARKER)

# Debian packages the tests start for real: Chromium (Playwright never downloads a browser here) and Dovecot (a real
# IMAP server on loopback for the mailbox-polling tests). Installed only when missing.
SYSTEM_PACKAGES := /usr/bin/chromium:chromium /usr/sbin/dovecot:dovecot-imapd
system-packages:
	@missing=""; for entry in $(SYSTEM_PACKAGES); do \
	  [ -x "$${entry%%:*}" ] || missing="$$missing $${entry#*:}"; done; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing >/dev/null; \
	fi

chromium: system-packages

run: venv
	$(PY) manage.py migrate --noinput -v 0
	$(PY) manage.py seed_demo --base-url http://$(HOST):$(PORT)
	@if [ -n "$$REDIS_URL" ] && [ -n "$$DATABASE_URL" ]; then \
	  $(PY) manage.py collectstatic --noinput -v 0; \
	  PATH=$(VENV)/bin:$$PATH HOST=$(HOST) WEB_PORT=$(PORT) $(VENV)/bin/honcho start; \
	else \
	  mkdir -p staticfiles; \
	  $(PY) -m uvicorn omnidesk.asgi:application --host $(HOST) --port $(PORT) --no-access-log --lifespan off --ws-max-size 131072; \
	fi

# The whole suite against PostgreSQL and Redis on localhost.
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/omnidesk
TEST_REDIS_URL ?= redis://127.0.0.1:6379/14
# Outside the embedded default omnidesk needs its own SECRET_KEY and defaults to HTTPS-only cookies and redirects;
# the tests talk plain http to loopback servers, with a key that is only ever used here.
TEST_ENV := SECRET_KEY=omnidesk-tests-only-key-7f3c9a1e5b2d8c4f6a0e9b3d7c1f5a2e8b4d6c0f OMNIDESK_HTTPS=false OMNIDESK_TEST_FAST_PASSWORD_HASHER=true
test: venv system-packages
	$(TEST_ENV) DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(VENV)/bin/pytest $(PYTEST_ARGS)

bench: venv
	$(TEST_ENV) DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) $(PY) -m bench

# Every benchmark once at a tiny size (about a minute): CI runs it so that a benchmark cannot break silently. Its
# figures mean nothing at this size.
bench-smoke: venv
	$(TEST_ENV) DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=redis://127.0.0.1:6379/12 $(PY) -m bench --smoke

# A production install, as README's Deployment section describes it: requirements.txt ALONE in a fresh venv (no
# development packages to hide a missing runtime dependency), then `check --deploy` with warnings as failures and
# `migrate`, with DEBUG unset, a SECRET_KEY, PostgreSQL, Redis and ALLOWED_HOSTS — on a scratch database.
DEPLOY_VENV ?= /tmp/omnidesk-deploy-venv
DEPLOY_DATABASE ?= omnidesk_deploy_check
DEPLOY_PG ?= postgres://postgres@127.0.0.1:5432
DEPLOY_REDIS_URL ?= redis://127.0.0.1:6379/13
deploy-check:
	rm -rf $(DEPLOY_VENV)
	$(PYTHON) -m venv $(DEPLOY_VENV)
	$(DEPLOY_VENV)/bin/pip install -q --upgrade pip
	$(DEPLOY_VENV)/bin/pip install -q -r requirements.txt
	psql "$(DEPLOY_PG)/postgres" -q -c 'DROP DATABASE IF EXISTS $(DEPLOY_DATABASE)' -c 'CREATE DATABASE $(DEPLOY_DATABASE)'
	env -u DEBUG -u OMNIDESK_HTTPS -u SECURE_SSL_REDIRECT -u SECURE_HSTS_SECONDS SECRET_KEY="$$($(DEPLOY_VENV)/bin/python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
	  DATABASE_URL=$(DEPLOY_PG)/$(DEPLOY_DATABASE) REDIS_URL=$(DEPLOY_REDIS_URL) ALLOWED_HOSTS=desk.example.com \
	  sh -c '$(DEPLOY_VENV)/bin/python manage.py check --deploy --fail-level WARNING && \
	         $(DEPLOY_VENV)/bin/python manage.py migrate --noinput -v 1'
	psql "$(DEPLOY_PG)/postgres" -q -c 'DROP DATABASE IF EXISTS $(DEPLOY_DATABASE)'

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: venv
	$(VENV)/bin/mypy .

messages: venv
	$(PY) manage.py makemessages -l fr --ignore '.venv/*' --ignore 'tests/*'
	$(PY) manage.py compilemessages --ignore '.venv/*'

clean:
	rm -rf $(VENV) staticfiles db.sqlite3 media
