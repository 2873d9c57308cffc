# Gatehouse: every command a developer or operator repeats.
# `make up` builds the lab and deploys the appliance; `make test` runs every test.
SHELL := /bin/bash
.DEFAULT_GOAL := help
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
LAB ?= single
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)

.PHONY: help venv run test test-app test-app-sqlite test-app-mysql test-browser test-infra test-roles test-molecule drill lint bench up down secrets services services-stop wheelhouse

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-16s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt app/pyproject.toml
	python3 -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements.txt -e 'app[test]'
	touch $@

venv: $(VENV)/.installed ## create .venv/ with the app and the pinned tooling

run: venv ## serve the app on SQLite at http://127.0.0.1:3001 with a demo user and client
	$(BIN)/python -m gatehouse.entry.devserver

services: ## start MariaDB and Redis on loopback for the tests (installs them if missing)
	tests/services/start.sh

services-stop: ## stop the test MariaDB and Redis
	tests/services/stop.sh

# `make test` runs these stages in order, stopping at the first that fails:
# venv, lint, services, the app's tests on both backends at once, test-infra,
# the lab image, then the site scenarios: appliance (site.yml and verify.yml
# on one container, with a check-mode run first) and cluster (site.yml on the
# lab's cluster topology, seven containers: replication, failover of an auth
# server behind nginx, the firewall between the hosts). It ends with a table
# of seconds per stage and per molecule action, also written to
# GATEHOUSE_TIMINGS (default .lab/timings.tsv). The role scenarios are for
# working on one role: `make test-roles`.
TEST_SCENARIOS ?= appliance cluster

test: ## every stage CI runs (lint, app tests, test-infra, TEST_SCENARIOS); ends with a table of seconds
	tests/run-stages.sh $(TEST_SCENARIOS)

# The server's tests: tests/run-app-tests.sh runs the backends (the same code
# make test uses). Both at once, each in its own process with its own log in
# .lab/logs/, its own temporary files, and MariaDB + Redis for one only.
test-app: venv services ## the server's tests on SQLite and on MariaDB + Redis, side by side
	tests/run-app-tests.sh both

test-app-sqlite: venv ## the fast loop: the server's tests on SQLite only, no services
	tests/run-app-tests.sh sqlite

test-app-mysql: venv services ## the server's tests on MariaDB + Redis only
	tests/run-app-tests.sh mariadb

# Part of the app's tests on both backends; this runs them alone. Headless
# Debian chromium driven by Playwright; nothing is downloaded.
test-browser: venv ## the browser tests alone (sign-in, consent, admin in headless Chromium), on SQLite
	@[ -x /usr/bin/chromium ] || { echo "make test-browser: /usr/bin/chromium is missing (apt-get install chromium)" >&2; exit 1; }
	tests/run-app-tests.sh sqlite tests/app/test_browser.py

lint: venv ## ruff (app, tests, molecule, roles), yamllint, ansible-lint (production profile), promtool check rules
	$(BIN)/ruff check app tests molecule roles
	tests/lab/monitoring-tools.sh
	.lab/bin/promtool check rules monitoring/prometheus/rules/*.yml
	@if [ -d roles ] && [ -n "$$(ls -A roles)" ]; then $(BIN)/yamllint -s . && $(BIN)/ansible-lint --profile production; fi

# Controller side, no containers: argument specs equal the defaults, and bad
# inventory values stop site.yml in its preflight before any host changes
# (the real site.yml against this machine in check mode, PREFLIGHT_JOBS at a
# time, default 4). The testinfra files the scenarios run on the hosts are
# elsewhere in tests/infra/.
test-infra: venv ## controller-side checks: argument specs, preflights, scenario layout, promtool rules, dashboards
	tests/lab/monitoring-tools.sh
	$(BIN)/pytest -q tests/infra/controller

test-roles: venv ## every role's own scenario (molecule/<role>/), not part of make test
	tests/lab/molecule-all.sh --roles

test-molecule: venv ## molecule scenarios: SCENARIOS="common nginx" for some, all by default
	tests/lab/molecule-all.sh $(SCENARIOS)

# A cluster drill alone (molecule/cluster/drills/<DRILL>.yml), on a cluster
# that `molecule converge -s cluster` brought up; molecule/cluster/molecule.yml
# reads GATEHOUSE_DRILL as its side_effect playbook.
drill: venv ## one cluster drill alone on a converged cluster: make drill DRILL=auth_failover
	@[ -n "$(DRILL)" ] || { echo "make drill: name one: DRILL=<$$(cd molecule/cluster/drills && ls *.yml | sed 's/\.yml$$//' | paste -sd'|')>" >&2; exit 2; }
	@[ -f molecule/cluster/drills/$(DRILL).yml ] || { echo "make drill: no drill '$(DRILL)' (molecule/cluster/drills/$(DRILL).yml)" >&2; exit 2; }
	GATEHOUSE_DRILL=drills/$(DRILL).yml $(BIN)/molecule side-effect -s cluster

bench: venv services ## benchmarks (wrk against gunicorn on MariaDB + Redis); prints figures
	source .lab/services.env && $(BIN)/python tests/perf/run.py

# The wheelhouse the gatehouse role installs from, so hosts need no PyPI (an
# air-gapped site works): the app's wheel built from app/, its dependencies
# for the hosts' CPython and platform pinned to the versions the app's tests
# run with in .venv/, requirements.txt with every pin and its sha256, and
# wheelhouse.json naming the target. hatchling builds reproducibly, so the
# same sources give the same files and redeploying them changes nothing.
WHEELHOUSE ?= .lab/wheelhouse
# The hosts' full CPython version (dependency markers may test it): Debian 12 has 3.11.2.
WHEELHOUSE_PYTHON ?= 3.11.2
WHEELHOUSE_ARCH ?= x86_64
# The oldest glibc among the hosts: Debian 12 has 2.36, Ubuntu 22.04 2.35, RHEL 9 2.34.
WHEELHOUSE_GLIBC ?= 2.34

wheelhouse: venv ## build $(WHEELHOUSE)/: the app's wheel + pinned dependencies for the hosts
	$(PY) app/scripts/build-wheelhouse.py --app app --output $(WHEELHOUSE) \
	  --python $(WHEELHOUSE_PYTHON) --arch $(WHEELHOUSE_ARCH) --glibc $(WHEELHOUSE_GLIBC)

up: venv wheelhouse ## start the lab containers, run site.yml and verify.yml, print the issuer URL
	tests/lab/up.sh $(LAB)

down: ## remove the lab containers and network
	tests/lab/down.sh

# `make secrets INVENTORY=inventories/<site> VAULT_PASSWORD_FILE=<file>`: the
# file holds the site's vault password (or export ANSIBLE_VAULT_PASSWORD_FILE).
# The lab inventories (inventories/lab*) use .lab/vault-pass, created here
# (0600) on first use; runs against them need
# ANSIBLE_VAULT_PASSWORD_FILE=.lab/vault-pass too.
SECRETS_INVENTORY = $(or $(INVENTORY),inventories/lab)
LAB_VAULT_PASS := $(CURDIR)/.lab/vault-pass

secrets: venv ## generate every secret INVENTORY lacks (never overwrites one)
	@set -euo pipefail; \
	site="$(SECRETS_INVENTORY)"; [[ -f "$$site" ]] && site="$$(dirname "$$site")"; \
	if [[ -n "$(VAULT_PASSWORD_FILE)" ]]; then \
	  export ANSIBLE_VAULT_PASSWORD_FILE="$(VAULT_PASSWORD_FILE)"; \
	elif [[ -z "$${ANSIBLE_VAULT_PASSWORD_FILE:-}" && "$$(basename "$$site")" == lab* ]]; then \
	  if [[ ! -s "$(LAB_VAULT_PASS)" ]]; then \
	    mkdir -p "$(dir $(LAB_VAULT_PASS))"; \
	    (umask 077; head -c 48 /dev/urandom | base64 | tr -d '\n/+=' >"$(LAB_VAULT_PASS)"); \
	    echo "lab vault password: created $(LAB_VAULT_PASS)"; \
	  fi; \
	  chmod 600 "$(LAB_VAULT_PASS)"; \
	  export ANSIBLE_VAULT_PASSWORD_FILE="$(LAB_VAULT_PASS)"; \
	fi; \
	if [[ -z "$${ANSIBLE_VAULT_PASSWORD_FILE:-}" ]] && grep -qs '^\$$ANSIBLE_VAULT' "$$site/group_vars/all/vault.yml"; then \
	  echo "make secrets: no vault password for $$site/group_vars/all/vault.yml:" \
	    "give VAULT_PASSWORD_FILE=<file holding it> (or export ANSIBLE_VAULT_PASSWORD_FILE)" >&2; \
	  exit 2; \
	fi; \
	$(BIN)/ansible-playbook -i "$$site" playbooks/secrets.yml
