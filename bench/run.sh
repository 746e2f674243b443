#!/usr/bin/env bash
# Builds Latchkey and the load tools of the `latchkey-bench` package here (the flow driver and the
# static-response ceiling) and runs the benchmark suite (bench/bench.py) against Latchkey on SQLite and
# PostgreSQL and node-oidc-provider; see bench/README.md.
#   bench/run.sh                 release build, full run
#   bench/run.sh --smoke         debug build, one second per scenario: keeps the suite working in CI
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/latchkey/target}"
command -v wrk >/dev/null 2>&1 || { echo "bench: wrk is missing (apt-get install -y wrk)" >&2; exit 2; }
profile=release
for arg in "$@"; do [ "$arg" = "--smoke" ] && profile=debug; done
flags=(--locked)
[ "$profile" = release ] && flags+=(--release)
# One build for both: the tools then use Latchkey's own dependency features (the ceiling's axum, hyper and
# tokio are the server's) and Latchkey's binary is the one `cargo build -p latchkey` makes.
cargo build "${flags[@]}" -p latchkey -p latchkey-bench
exec python3 bench/bench.py --binary "$CARGO_TARGET_DIR/$profile/latchkey" \
  --ceiling "$CARGO_TARGET_DIR/$profile/static_ceiling" \
  --flow-driver "$CARGO_TARGET_DIR/$profile/flow_bench" \
  --write-ceiling "$CARGO_TARGET_DIR/$profile/write_ceiling" "$@"
