# Two commands do all set-up on a fresh machine:
#   make run    create .venv, install, start the daemon on the embedded defaults
#   make test   create .venv, install, run the whole test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Re-install only when the dependency list changes.
INSTALLED := $(VENV)/.installed

.PHONY: run test install bench bench-nightly bench-alerts clean

$(INSTALLED): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "tradebot needs Python 3.11 or newer; set PYTHON=python3.11")'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e '.[dev]'
	@touch $(INSTALLED)

install: $(INSTALLED)

run: $(INSTALLED)
	$(BIN)/tradebot run

test: $(INSTALLED)
	$(BIN)/python -m pytest

bench: $(INSTALLED)
	$(BIN)/python scripts/bench_ingest.py

# The nightly pipeline (Spark features vs pandas vs incremental, training, prediction latency,
# hot-swap stall) over ../shared/data/binance/klines; about 5 minutes on 2 cores.
bench-nightly: $(INSTALLED)
	$(BIN)/python scripts/bench_nightly.py

# Decision latency with no alert channel, with Telegram + a signed webhook, and with 1,000-alert
# floods, on the bundled replay at speed 30; 3 runs of each, under 4 minutes on 2 cores.
bench-alerts: $(INSTALLED)
	$(BIN)/python scripts/bench_alerts.py

clean:
	rm -rf $(VENV) var .pytest_cache
