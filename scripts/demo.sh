#!/usr/bin/env bash
# Install mosseval (CPU-only torch via constraints.txt) and run the main job on the embedded default:
# the generated moss-video-mini benchmark, the oracle and random baselines and mini-qwen2.5-vl-sft (a small
# Qwen2.5-VL built and trained locally on first use, then cached), ending in a rendered leaderboard. No downloads
# of weights or data.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --disable-pip-version-check -c constraints.txt -e ".[hf]"
exec .venv/bin/mosseval demo "$@"
