#!/usr/bin/env bash
# make run: the whole simulated world. The border (Kordai KZ facing Ak-Zhol KG,
# and the national coordination centre: scripts/run-border.sh) starts in the
# background; its banner is printed once it is up; then the demo crossing
# (scripts/run-crossing.sh) runs in the foreground. Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p run
out=run/border.out
scripts/run-border.sh >"$out" 2>&1 &
border=$!
stop() { kill "$border" 2>/dev/null || true; wait "$border" 2>/dev/null || true; }
trap stop EXIT
trap 'exit 130' INT TERM
for _ in $(seq 1 1200); do
  grep -q "Ctrl-C stops everything" "$out" 2>/dev/null && break
  if ! kill -0 "$border" 2>/dev/null; then
    echo "make run: the border (two crossings and the centre) did not start:" >&2
    tail -20 "$out" >&2
    exit 1
  fi
  sleep 0.25
done
cat "$out"
echo
scripts/run-crossing.sh "$@"
