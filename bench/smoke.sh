#!/usr/bin/env bash
# Load smoke test for CI: a short chat + reconnect run against a fresh SQLite server on a free port.
# Fails (non-zero) ONLY on errors or lost / duplicated / out-of-order messages, never on timing.
# Bounded: the whole script stops itself within about 60 s after the build.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
source bench/lib.sh

WORK="$(mktemp -d /tmp/parley-smoke.XXXXXX)"
cleanup() { stop_server; rm -rf "$WORK"; }
trap cleanup EXIT

# Build (not timed against the 60 s budget when already built: both builds are incremental).
if [ -z "${SMOKE_SKIP_BUILD:-}" ]; then
  timeout 300 dotnet build src/Parley.Server -c Release -p:SkipWebBuild=true -o "$WORK/server" -v q -nologo >/dev/null
  timeout 300 dotnet build bench/Parley.LoadTest -c Release -v q -nologo >/dev/null
fi
SERVER_DIR="${SMOKE_SERVER_DIR:-$WORK/server}"
LT="bench/Parley.LoadTest/bin/Release/net10.0/Parley.LoadTest"

start=$(date +%s)
PORT="$(free_port)"
start_server "$SERVER_DIR" "$PORT" "$WORK/data" "0-$(( $(nproc) - 1 ))"
URL="http://127.0.0.1:$PORT"
rc=0
timeout 40 "$LT" chat --url "$URL" --rate 100 --duration 5 --warmup 1 --visitors 20 --agents 2 --drain 10 \
  --server-pid "$SERVER_PID" --max-seconds 35 --fail-on-errors --out "$WORK/chat.json" >/dev/null || rc=$?
timeout 30 "$LT" reconnect --url "$URL" --visitors 50 --missed 5 --senders 4 \
  --max-seconds 25 --fail-on-errors --out "$WORK/reconnect.json" >/dev/null || rc=$((rc == 0 ? $? : rc))
for f in chat reconnect; do
  if [ -f "$WORK/$f.json" ]; then
    python3 - "$WORK/$f.json" <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))
keys = ["scenario", "sent", "acked", "deliveries", "replayedMessages", "lost", "duplicates", "outOfOrder", "errors"]
print("smoke:", ", ".join(f"{k}={d[k]}" for k in keys if k in d), "errorKinds=", d.get("errorKinds"))
PY
  else
    echo "smoke: $f produced no result"
    rc=1
  fi
done
echo "smoke: $(( $(date +%s) - start )) s (server start + runs), exit $rc"
exit $rc
