#!/usr/bin/env bash
# The whole test suite: lint, format check, strict types on every package (the test-support
# package, testing/, included), then pytest (real servers).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

echo "== ruff check"; ruff check .
echo "== ruff format --check"; ruff format --check .
echo "== mypy (strict on every package)"; mypy core/src edge/src ingest/src api/src firmware-sim/src cli/src testing/src
echo "== import contracts (docs/architecture.md layers)"; lint-imports
echo "== pytest"
# pytest exits 5 when it collected nothing: that is a failure here too.
exec pytest "$@"
