#!/usr/bin/env bash
# Reports and history search at scale (#18): seeds BENCH_CONVERSATIONS conversations (default 1,000,000) with
# BENCH_MESSAGES messages each (default 10) into a fresh SQLite file and a fresh PostgreSQL database (COPY), builds
# the hourly rollups, times the 30-day summary (rollups and exact facts) and history search, and writes the tables
# into docs/benchmarks.md between <!-- report-scale:start --> and <!-- report-scale:end --> (nothing else is touched;
# bench/run.sh does not write this section).
#   BENCH_CONVERSATIONS=1000000 BENCH_MESSAGES=10 BENCH_RUNS=30 BENCH_STORES="sqlite postgres"
#   PARLEY_BENCH_POSTGRES="Host=127.0.0.1;Port=5432;Username=postgres;Password=..."   (a role that may CREATE DATABASE)
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
N="${BENCH_CONVERSATIONS:-1000000}"
M="${BENCH_MESSAGES:-10}"
RUNS="${BENCH_RUNS:-30}"
STORES="${BENCH_STORES:-sqlite postgres}"
PG="${PARLEY_BENCH_POSTGRES:-${PARLEY_TEST_POSTGRES:-Host=127.0.0.1;Port=5432;Username=postgres;Password=parley-ci}}"
WORK="$(mktemp -d /tmp/parley-report-scale.XXXXXX)"
timeout 900 dotnet build bench/Parley.Benchmarks -c Release -v q -nologo >/dev/null
for store in $STORES; do
  echo "== $store: seeding $N conversations x $M messages"
  # run from the work folder: the app writes its data directory (key ring) beside the current directory
  (cd "$WORK" && timeout 14400 dotnet "$ROOT/bench/Parley.Benchmarks/bin/Release/net10.0/Parley.Benchmarks.dll" report-scale \
    --store "$store" --conversations "$N" --messages "$M" --runs "$RUNS" --dir "$WORK/sqlite" --pg "$PG" \
    > "$WORK/$store.md")
  cat "$WORK/$store.md"
done
rm -rf "$WORK/sqlite" "$WORK/data"
python3 - "$WORK" "$N" "$M" "$STORES" <<'PY'
import re, sys, datetime, subprocess
work, n, m, stores = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4].split()
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
load = open("/proc/loadavg").read().split()[0]
body = "\n".join(open(f"{work}/{s}.md").read().strip() for s in stores)
section = f"""<!-- report-scale:start -->
## Reports and history search at scale (#18)

Command: `BENCH_CONVERSATIONS={n} BENCH_MESSAGES={m} bench/report-scale.sh`; Release build, in-process (the services
the REST endpoints call, no HTTP), {datetime.date.today().isoformat()}, {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} CPUs (load average {load} at the end).
The summary is 30 local days in Asia/Shanghai over the last 30 of 90 seeded days.

{body}
<!-- report-scale:end -->"""
path = "docs/benchmarks.md"
text = open(path).read()
if "<!-- report-scale:start -->" in text:
    text = re.sub(r"<!-- report-scale:start -->.*?<!-- report-scale:end -->", lambda _: section, text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + section + "\n"
open(path, "w").write(text)
PY
echo "== wrote docs/benchmarks.md (report-scale section)"
