#!/usr/bin/env bash
# Console performance check (benchmark suite, not a timed test): publishes the server, seeds one conversation
# with BENCH_MESSAGES messages (default 10000), opens it in headless Chromium and scrolls to the very top,
# then writes the numbers into docs/benchmarks.md (section "Agent console: 10,000-message conversation").
#   BENCH_MESSAGES=10000   PARLEY_CHROMIUM=/usr/bin/chromium
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
source bench/lib.sh
MESSAGES="${BENCH_MESSAGES:-10000}"
CHROMIUM="${PARLEY_CHROMIUM:-/usr/bin/chromium}"
WORK="$(mktemp -d /tmp/parley-console-bench.XXXXXX)"
trap stop_server EXIT

[ -f src/Parley.Server/wwwroot/console/index.html ] || (cd web && npm run build >/dev/null)
echo "== publishing (Release)"
timeout 600 dotnet publish src/Parley.Server -c Release -o "$WORK/server" -p:SkipWebBuild=true -v q -nologo >/dev/null
timeout 300 dotnet build bench/Parley.ConsoleBench -c Release -v q -nologo >/dev/null
port="$(free_port)"
start_server "$WORK/server" "$port" "$WORK/data" "0-$(($(nproc) - 1))"
echo "== seeding $MESSAGES messages and scrolling in Chromium"
timeout 900 dotnet bench/Parley.ConsoleBench/bin/Release/net10.0/Parley.ConsoleBench.dll \
  --url "http://127.0.0.1:$port" --email bench@example.com --password "$BENCH_PASSWORD" \
  --messages "$MESSAGES" --chromium "$CHROMIUM" --out "$WORK/console.json"
stop_server

python3 - "$WORK/console.json" "$MESSAGES" <<'PY'
import json, re, sys, datetime, subprocess
r = json.load(open(sys.argv[1]))
cpu = subprocess.run(["sh", "-c", "grep -m1 'model name' /proc/cpuinfo | cut -d: -f2"], capture_output=True, text=True).stdout.strip()
section = f"""<!-- console-bench:start -->
## Agent console: {int(sys.argv[2]):,}-message conversation

Command: `bench/console.sh` (BENCH_MESSAGES={sys.argv[2]}); SQLite, published Release server, headless Chromium
1440×900, {datetime.date.today().isoformat()}, {cpu}, {subprocess.run(['nproc'], capture_output=True, text=True).stdout.strip()} CPUs shared with other work.
The agent opens the conversation (the newest page arrives by Join), then drags to the top; the list loads older
history 200 messages per request as it nears the top, until message #1 is on screen.

| Measure | Value |
|---|---|
| Open: navigation → newest message on screen | {r['openMs']} ms |
| Scroll to the top: first drag → message #1 on screen ({r['messages']:,} messages loaded) | {r['scrollToTopMs']} ms |
| Frames while scrolling | {r['frames']} (p95 {r['frameP95Ms']} ms, longest {r['frameMaxMs']} ms) |
| Most message nodes in the DOM at once | {r['maxMessageNodes']} |
| Seeding (not part of the check) | {r['seedSeconds']} s |
<!-- console-bench:end -->"""
path = "docs/benchmarks.md"
text = open(path).read()
if "<!-- console-bench:start -->" in text:
    text = re.sub(r"<!-- console-bench:start -->.*?<!-- console-bench:end -->", lambda m: section, text, flags=re.S)
else:
    text = text.rstrip() + "\n\n" + section + "\n"
open(path, "w").write(text)
print(section)
PY
