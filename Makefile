# peakline: the two commands of the README's quick start.
#   make demo   run the platform end to end (simulators -> edge -> broker -> ingest -> API)
#   make test   lint, type-check and run the whole test suite against real servers
# Both bootstrap what they need: Debian packages (when root), a virtual env, locked packages.

SHELL := /bin/bash
.DEFAULT_GOAL := help
ARGS ?=

.PHONY: help bootstrap demo test lint fmt schema screenshots

help:
	@echo "make demo   - run the demo district (dashboard on http://127.0.0.1:8000)"
	@echo "make test   - lint, type-check and run every test against real servers"

bootstrap:
	@scripts/bootstrap.sh

demo:
	@scripts/bootstrap.sh --runtime
	.venv/bin/peakline demo $(ARGS)

test:
	@scripts/bootstrap.sh --test
	scripts/test.sh $(ARGS)

lint:
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .
	.venv/bin/mypy core/src edge/src store/src ingest/src api/src firmware-sim/src cli/src testing/src
	.venv/bin/lint-imports

fmt:
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

screenshots:  # the README's dashboard images, from a fresh demo (scripts/screenshots.py)
	.venv/bin/python scripts/screenshots.py

schema:
	.venv/bin/peakline config schema --out config/schema
	.venv/bin/peakline config reference --out docs/configuration.md
