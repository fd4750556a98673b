#!/usr/bin/env bash
# Install mosseval with its test extras into .venv (CPU-only torch via constraints.txt) and run the
# test suite. Usage: bash scripts/test.sh [pytest args...]   e.g. bash scripts/test.sh -m slow, -m e2e
# (the default selection excludes slow, api, gpu and e2e tests; .ci/run also runs -m e2e, ruff and mypy).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[hf,api,semantic,train,test,docs]"
# The lmms-eval bridge is tested against the real lmms-eval classes. Its full dependency set is huge (and
# pins an old PyAV), so only the modules its registry and the tested models import are installed.
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps lmms-eval==0.7.3 loguru pytz evaluate \
  datasets dill xxhash multiprocess fsspec tenacity sacrebleu portalocker tabulate colorama lxml 2>/dev/null \
  || echo "warning: lmms-eval could not be installed; its bridge tests will be skipped" >&2
# Browser tests drive Debian's Chromium; install it when we can (root + apt), else they are skipped.
if ! command -v chromium >/dev/null 2>&1 && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
    || echo "warning: chromium could not be installed; browser tests will be skipped" >&2
fi
exec .venv/bin/python -m pytest "$@"
