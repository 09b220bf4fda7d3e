#!/usr/bin/env bash
# The whole test suite: lint, format check, strict types on every package (the test-support
# package, testing/, included), then pytest (real servers).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff check"; ruff check .
echo "== ruff format --check"; ruff format --check .
echo "== mypy (strict on every package)"; mypy core/src edge/src store/src ingest/src api/src firmware-sim/src cli/src testing/src
echo "== import contracts (docs/architecture.md layers)"; lint-imports
echo "== pytest"
# pytest exits 5 when it collected nothing: that is a failure here too.
# Two workers (PEAKLINE_TEST_WORKERS, 0 for one process): most integration tests wait on real
# servers and simulated clocks rather than compute, so two halve the wall time on 2 cores.
# A file stays on one worker (--dist loadfile): its module fixtures start servers once.
# Files are handed out in collection order (--no-loadscope-reorder), which tests/conftest.py
# begins with the longest files, so no long file is left to run alone at the end.
workers="${PEAKLINE_TEST_WORKERS:-2}"
if [ "$workers" = 0 ]; then exec pytest "$@"; fi
exec pytest -n "$workers" --dist loadfile --no-loadscope-reorder "$@"
