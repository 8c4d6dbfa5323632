#!/usr/bin/env bash
# Runs the whole suite (`npm test`) while CPU-burning processes of this script's own making compete for
# every core, then stops them. This is the machine CI may be: 2 cores, busy with other work. The suite must
# pass here; it prints how long it took (a figure, never a pass condition).
#   bash test/stress/contention.sh            # one burner per core
#   BURNERS=4 bash test/stress/contention.sh  # more
set -uo pipefail
cd "$(dirname "$0")/../.."

burners="${BURNERS:-$(nproc)}"
pids=()
stop_burners() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null; done
  pids=()
}
trap stop_burners EXIT
trap 'exit 130' INT TERM

for _ in $(seq "$burners"); do
  # A busy loop at normal priority: it takes a whole core from whatever the scheduler gives it.
  node -e 'for (;;) {}' &
  pids+=("$!")
done
echo "contention: ${#pids[@]} CPU burners (pids ${pids[*]}) on $(nproc) cores"

log="$(mktemp "${TMPDIR:-/tmp}/contention-XXXXXX.log")"
started=$(date +%s)
npm test 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
elapsed=$(($(date +%s) - started))
stop_burners

summary=$(grep -E '^# (tests|pass|fail|cancelled|skipped) ' "$log" | tr '\n' ' ')
echo "contention: npm test exited ${status} after ${elapsed} s under ${burners} burners; ${summary}"
rm -f "$log"
exit "$status"
