#!/usr/bin/env bash
# Parley standard load suite: publishes the server (Release), runs it pinned to CPU 0 on SQLite and then on
# PostgreSQL, drives it from CPU 1 with bench/Parley.LoadTest, runs the BenchmarkDotNet hot-path benchmarks and
# writes docs/benchmarks.md + docs/img/latency-vs-load.svg. Every step is bounded by `timeout`.
#   BENCH_DBS="sqlite postgres"   databases to run (default both)
#   BENCH_RATES="100 500 1000 2000 5000 10000"   chat offered rates
#   BENCH_DURATION=10             measured seconds per chat/fanout run
#   BENCH_CHAT_WARMUP=12          unmeasured seconds before each chat run (at its rate, at most 1,000/s)
#   BENCH_IDLE=5000               idle connections (spread over 127.0.0.2..5, 2 generator processes)
#   BENCH_SKIP_BDN=1              skip the BenchmarkDotNet part (BENCH_BDN_DIR: reuse an earlier run's results folder)
#   BENCH_SCENARIOS="echo chat fanout idle churn overload reconnect"   which scenarios to run (default all):
#                                 "echo" = the baselines (bench/Parley.EchoBaseline: a bare SignalR hub and a raw
#                                 Kestrel WebSocket, each echoing on CPU 0; no database); "overload" offers
#                                 BENCH_OVERLOAD_RATE (default 6000/s, ~3x what one core sustains on SQLite) for 30 s,
#                                 once with the load governor off and once on (docs/operations.md, Overload)
#   BENCH_RESULTS=DIR             write into (and report from) an existing results folder, e.g. to redo one scenario:
#                                 BENCH_RESULTS=bench/results-latest BENCH_SCENARIOS=overload bench/run.sh keeps the
#                                 other scenarios' last results on the page (a partial run into a fresh folder would
#                                 leave them "not run"). The page's generated part lies between the bench-run markers;
#                                 bench/findings.md is its findings section; everything else in the file is kept.
#   PARLEY_BENCH_POSTGRES         admin connection string (default Host=127.0.0.1;Username=postgres;Password=parley)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
source bench/lib.sh

DBS="${BENCH_DBS:-sqlite postgres}"
RATES="${BENCH_RATES:-100 500 1000 2000 5000 10000}"
DURATION="${BENCH_DURATION:-10}"
# Chat runs warm up for this long at their rate, at most 1,000/s, unmeasured: past the JIT of every path and the
# first runs of the server's 5 s passes (search indexer, report rollups), which compile their queries.
CHAT_WARMUP="${BENCH_CHAT_WARMUP:-12}"
IDLE="${BENCH_IDLE:-5000}"
PG_ADMIN="${PARLEY_BENCH_POSTGRES:-Host=127.0.0.1;Username=postgres;Password=parley}"
WORK="$(mktemp -d /tmp/parley-bench.XXXXXX)"
RESULTS="${BENCH_RESULTS:-$WORK/results}"
SCENARIOS=" ${BENCH_SCENARIOS:-echo chat fanout idle churn overload reconnect} "
mkdir -p "$RESULTS"
SUITE_START=$(date +%s)
COMMANDS=()
RUN_ENV=()  # extra server settings for the next run_one (the overload scenario switches the governor)
PG_DB=
cleanup() {
  stop_server
  if [ -n "$PG_DB" ]; then pg_drop "$PG_DB" || true; fi
}
trap cleanup EXIT

pg_field() { echo "$PG_ADMIN" | tr ';' '\n' | sed -n "s/^$1=//Ip" | head -1; }
pg_psql() { PGPASSWORD="$(pg_field Password)" timeout 30 psql -h "$(pg_field Host)" -U "$(pg_field Username)" -d postgres -v ON_ERROR_STOP=1 -qtAc "$1"; }
pg_drop() { pg_psql "DROP DATABASE IF EXISTS $1 WITH (FORCE)"; }

echo "== publishing (Release)"
timeout 600 dotnet publish src/Parley.Server -c Release -o "$WORK/server" -p:SkipWebBuild=true -v q -nologo >/dev/null
timeout 600 dotnet build bench/Parley.LoadTest -c Release -v q -nologo >/dev/null
LT="$ROOT/bench/Parley.LoadTest/bin/Release/net10.0/Parley.LoadTest"
COMMANDS+=("dotnet publish src/Parley.Server -c Release -o \$WORK/server -p:SkipWebBuild=true")

# run_one <db> <name> <loadtest args...>: fresh server (and database) per run, generator on CPU 1.
run_one() {
  local db="$1" name="$2"
  shift 2
  local port data extra=()
  port="$(free_port)"
  data="$WORK/data-$db-$name"
  if [ "$db" = postgres ]; then
    PG_DB="parley_bench_$(date +%s)_$RANDOM"
    pg_psql "CREATE DATABASE $PG_DB" >/dev/null
    extra=(Parley__Database__Provider=postgres "Parley__Database__ConnectionString=$PG_ADMIN;Database=$PG_DB")
  fi
  start_server "$WORK/server" "$port" "$data" 0 "${extra[@]}" "${RUN_ENV[@]}"
  mkdir -p "$RESULTS/$db"
  echo "== [$db] $name: $*"
  COMMANDS+=("taskset -c 1 Parley.LoadTest $* --url http://127.0.0.1:PORT --server-pid PID   # $db, server: taskset -c 0")
  timeout 300 taskset -c 1 "$LT" "$@" --url "http://127.0.0.1:$port" --server-pid "$SERVER_PID" --label "$db" \
    --out "$RESULTS/$db/$name.json" >/dev/null || echo "   (run $name exited $?)"
  if [ -f "$RESULTS/$db/$name.json" ]; then
    python3 - "$RESULTS/$db/$name.json" <<'PY' || true
import json, sys
d = json.load(open(sys.argv[1]))
def g(p):
    x = d
    for k in p.split('.'):
        x = x.get(k) if isinstance(x, dict) else None
    return x
print("   ", {k: g(k) for k in ["achievedRate", "deliveriesPerSec", "deliveryLatencyMs.p50", "deliveryLatencyMs.p99", "bytesPerConnectionInclKernel", "cyclesPerSec", "lost", "duplicates", "outOfOrder", "errors", "server.serverCpuPercent", "server.gcPauseP99Ms"] if g(k) is not None})
PY
  fi
  stop_server
  # Keep the server's warnings (slow-consumer disconnects, errors) in the work folder (not committed).
  mkdir -p "$WORK/logs" && [ -s "$data/server.log" ] && cp "$data/server.log" "$WORK/logs/$db-$name.server.log"
  if [ -n "$PG_DB" ]; then pg_drop "$PG_DB" >/dev/null || true; PG_DB=; fi
}

if [[ "$SCENARIOS" == *" echo "* ]]; then
  timeout 600 dotnet publish bench/Parley.EchoBaseline -c Release -o "$WORK/echo" -v q -nologo >/dev/null
  mkdir -p "$RESULTS/baseline"
  for kind in signalr websocket; do
    port="$(free_port)"
    SERVER_EXE=Parley.EchoBaseline start_server "$WORK/echo" "$port" "$WORK/data-echo-$kind" 0
    echo "== [baseline] echo $kind"
    COMMANDS+=("taskset -c 1 Parley.LoadTest echo --kind $kind --connections 64 --window 4 --duration $DURATION --warmup 3 --url http://127.0.0.1:PORT --server-pid PID   # server: taskset -c 0 Parley.EchoBaseline")
    timeout 120 taskset -c 1 "$LT" echo --kind "$kind" --connections 64 --window 4 --duration "$DURATION" --warmup 3 \
      --url "http://127.0.0.1:$port" --server-pid "$SERVER_PID" --label baseline --max-seconds 90 \
      --out "$RESULTS/baseline/echo-$kind.json" | python3 -c 'import json,sys; d=json.load(sys.stdin); print("   ", {k: d.get(k) for k in ["roundTripsPerSec", "errors"]}, d["latencyMs"].get("p99"), d["server"].get("serverCpuPercent"))' \
      || echo "   (echo $kind exited $?)"
    stop_server
  done
fi

for db in $DBS; do
  if [ "$db" = postgres ]; then
    if ! pg_psql "SELECT 1" >/dev/null 2>&1; then
      pg_ctlcluster 15 main start 2>/dev/null || true
      sleep 2
    fi
    if ! pg_psql "SELECT 1" >/dev/null 2>&1; then
      echo "PostgreSQL not reachable with PARLEY_BENCH_POSTGRES; skipping"
      continue
    fi
  fi
  [[ "$SCENARIOS" == *" chat "* ]] && for rate in $RATES; do
    run_one "$db" "chat-$(printf %05d "$rate")" chat --rate "$rate" --duration "$DURATION" --warmup "$CHAT_WARMUP" --warmup-rate 1000 --agents 2 --drain 15 --max-seconds 200
  done
  if [[ "$SCENARIOS" == *" fanout "* ]]; then
  run_one "$db" fanout-050 fanout --rate 50 --receivers 2000 --agents 2 --senders 4 --duration "$DURATION" --warmup 2 --drain 15 --max-seconds 150
  run_one "$db" fanout-100 fanout --rate 100 --receivers 2000 --agents 2 --senders 4 --duration "$DURATION" --warmup 2 --drain 15 --max-seconds 150
  fi
  [[ "$SCENARIOS" == *" idle "* ]] && run_one "$db" idle idle --connections "$IDLE" --procs 2 --sources 127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5 --hold 60 --settle 5 --max-seconds 300
  [[ "$SCENARIOS" == *" churn "* ]] && run_one "$db" churn churn --workers 32 --duration 10 --max-seconds 60
  if [[ "$SCENARIOS" == *" overload "* ]]; then
    for governor in false true; do
      RUN_ENV=(Parley__Governor__Enabled=$governor)
      run_one "$db" "overload-governor-$governor" chat --rate "${BENCH_OVERLOAD_RATE:-6000}" --duration 30 --warmup 3 --agents 60 --window 1 --agent-rate 20 --recovery true --recovery-seconds 150 --drain 120 --max-seconds 360
    done
    RUN_ENV=()
  fi
  [[ "$SCENARIOS" == *" reconnect "* ]] && run_one "$db" reconnect reconnect --visitors 1000 --missed 5 --senders 16 --max-seconds 120
  true
done

BDN_DIR="${BENCH_BDN_DIR:-}"
if [ -z "${BENCH_SKIP_BDN:-}" ]; then
  echo "== BenchmarkDotNet (in-process short runs)"
  COMMANDS+=("dotnet run -c Release --project bench/Parley.Benchmarks -- --filter '*' --artifacts \$WORK/bdn")
  (cd "$WORK" && timeout 420 taskset -c 0 dotnet run -c Release --project "$ROOT/bench/Parley.Benchmarks" -- --filter '*' --artifacts "$WORK/bdn" >"$WORK/bdn.log" 2>&1) \
    || echo "   (BenchmarkDotNet exited $?; see $WORK/bdn.log)"
  BDN_DIR="$WORK/bdn/results"
fi

SUITE_SECONDS=$(( $(date +%s) - SUITE_START ))
python3 - "$WORK/meta.json" "$SUITE_SECONDS" "${COMMANDS[@]}" <<'PY'
import json, os, platform, subprocess, sys
out, secs, cmds = sys.argv[1], sys.argv[2], sys.argv[3:]
def sh(c):
    try: return subprocess.check_output(c, shell=True, text=True, stderr=subprocess.DEVNULL).strip()
    except Exception: return "?"
meta = {
  "date (UTC)": sh("date -u +%Y-%m-%dT%H:%MZ"),
  "commit": sh("git rev-parse --short HEAD") + (" (+ uncommitted changes)" if sh("git status --porcelain") else ""),
  "CPU": sh("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2").strip(),
  "nproc": sh("nproc"),
  "memory": sh("free -h | awk '/Mem:/ {print $2}'"),
  "kernel": platform.release(),
  "OS": sh(". /etc/os-release && echo $PRETTY_NAME"),
  ".NET": sh("dotnet --version") + " SDK, runtime " + sh("dotnet --list-runtimes | grep NETCore.App | tail -1 | cut -d' ' -f2"),
  "PostgreSQL": sh("psql --version"),
  "server GC": "Server GC (the ASP.NET Core default; DATAS), gen0 budget capped at 8 MB (System.GC.Gen0MaxBudget), 1 core",
  "suite runtime": os.environ.get("BENCH_SUITE_NOTE") or (secs + " s (publish, all scenarios, BenchmarkDotNet)"),
  "commands": cmds,
}
json.dump(meta, open(out, "w"), indent=2)
PY
mkdir -p docs/img
"$LT" report --results "$RESULTS" --meta "$WORK/meta.json" --markdown docs/benchmarks.md --svg docs/img/latency-vs-load.svg \
  --notes bench/findings.md ${BDN_DIR:+--bdn "$BDN_DIR"}
if [ "$(realpath "$RESULTS")" != "$(realpath -m "$ROOT/bench/results-latest")" ]; then
  rm -rf "$ROOT/bench/results-latest"; cp -r "$RESULTS" "$ROOT/bench/results-latest" 2>/dev/null || true
fi
echo "== done in ${SUITE_SECONDS} s; raw results in $RESULTS (copied to bench/results-latest)"
