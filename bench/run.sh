#!/usr/bin/env bash
# Builds Latchkey and runs the benchmark suite (bench/bench.py); see bench/README.md.
#   bench/run.sh                 release build, full run
#   bench/run.sh --smoke         debug build, one second per scenario: keeps the suite working in CI
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/latchkey/target}"
command -v wrk >/dev/null 2>&1 || { echo "bench: wrk is missing (apt-get install -y wrk)" >&2; exit 2; }
profile=release
for arg in "$@"; do [ "$arg" = "--smoke" ] && profile=debug; done
if [ "$profile" = release ]; then
  cargo build --release --locked -p latchkey
else
  cargo build --locked -p latchkey
fi
exec python3 bench/bench.py --binary "$CARGO_TARGET_DIR/$profile/latchkey" "$@"
