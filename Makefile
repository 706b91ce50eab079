# The two quick-start commands, `make demo` and `make test`, each set up what they need:
# Debian packages (Prometheus, Alertmanager, Maven, Java 17, and Chromium for the ops
# page's browser test) when missing, and a virtual environment in .venv. Kafka and
# Elasticsearch are fetched by crmstream itself; Playwright drives Debian's chromium
# (no browser download).

VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := prometheus prometheus-alertmanager maven openjdk-17-jre-headless chromium

.PHONY: demo test test-unit lint setup system-packages down

demo: setup
	$(VENV)/bin/crmstream demo

test: setup
	$(PY) -m pytest

test-unit: setup
	$(PY) -m pytest -m "not integration"

lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy .

down: setup
	$(VENV)/bin/crmstream infra down

setup: system-packages $(STAMP)

system-packages:
	@if ! command -v promtool >/dev/null || ! command -v prometheus-alertmanager >/dev/null \
	     || ! command -v mvn >/dev/null || ! command -v java >/dev/null \
	     || ! command -v chromium >/dev/null; then \
	  echo "installing Debian packages: $(APT_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	fi

$(STAMP): pyproject.toml
	python3.11 -m venv $(VENV) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev]"
	touch $(STAMP)
