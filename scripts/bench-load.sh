#!/usr/bin/env bash
# Generator overhead: requests per second that `cipherscale load` (goose) and wrk each drive
# against the same trivial endpoint (a replica's GET /healthz), measured in the same run.
# Writes results/bench/load_overhead.csv. Usage: scripts/bench-load.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-10}"
bin="${CIPHERSCALE_BIN:-${CARGO_TARGET_DIR:-target}/release/cipherscale}"
command -v wrk >/dev/null || { echo "wrk is missing: apt-get install wrk" >&2; exit 1; }
[ -x "$bin" ] || cargo build --release --quiet
work="$(mktemp -d)"
trap 'kill "$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
artifacts="$(ls -d results/paper/artifacts/glwe-packed-8b)"
"$bin" serve --artifacts "$artifacts" --key-store "$work/keys.sqlite" --listen 127.0.0.1:0 >"$work/serve.out" &
server=$!
for _ in $(seq 100); do grep -q listening "$work/serve.out" 2>/dev/null && break; sleep 0.1; done
url="$(sed -n 's/^listening on //p' "$work/serve.out")"
connections=8
"$bin" load --url "$url" --path /healthz --profile ramp --users "$connections" \
    --duration-s 1 --requests 1000000 --max-duration-s "$seconds" --max-requests 1000000 \
    --out "$work/goose" >/dev/null 2>&1 || true
goose_rps="$(python3 -c "import csv,sys; r=list(csv.DictReader(open('$work/goose/summary.csv')))[0]; print(r['throughput_rps'])")"
wrk_rps="$(wrk -t2 -c"$connections" -d"${seconds}s" "$url/healthz" | awk '/Requests\/sec/ {print $2}')"
mkdir -p results/bench
{
  echo "tool,connections,seconds,requests_per_s,cores,git_rev"
  rev="$(git rev-parse --short=12 HEAD)"
  cores="$(nproc)"
  echo "cipherscale-load-goose,$connections,$seconds,$goose_rps,$cores,$rev"
  echo "wrk,$connections,$seconds,$wrk_rps,$cores,$rev"
} > results/bench/load_overhead.csv
cat results/bench/load_overhead.csv
python3 -c "print(f'goose / wrk = {float($goose_rps)/float($wrk_rps):.3f}')"
