#!/usr/bin/env bash
# Runs Parley's whole test suite and ends with one line: "N passed, N failed, N skipped".
#   - web unit tests (vitest) for the widget/console protocol logic
#   - .NET tests: unit, integration over real sockets on SQLite and PostgreSQL, Playwright in Chromium
# PostgreSQL tests need PARLEY_TEST_POSTGRES (an admin connection string); without it they are skipped,
# except under CI=true where they fail. Browser tests need /usr/bin/chromium (or PARLEY_CHROMIUM) likewise.
set -uo pipefail
cd "$(dirname "$0")"
results="$PWD/TestResults"
rm -rf "$results" && mkdir -p "$results"

passed=0 failed=0 skipped=0
status=0

# 1. Web unit tests.
if [ ! -d web/node_modules ]; then (cd web && npm ci --no-audit --no-fund) || status=1; fi
(cd web && npx vitest run --reporter=default --reporter=json --outputFile="$results/vitest.json") || status=1
if [ -f "$results/vitest.json" ]; then
  read -r p f s < <(node -e 'const r=require(process.argv[1]);console.log(r.numPassedTests,r.numFailedTests,r.numPendingTests+r.numTodoTests)' "$results/vitest.json")
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
else
  failed=$((failed + 1))
fi

# 2. .NET tests (the server build produces the web assets first if they are missing). The S3 attachment store's
#    tests start s3rver, an S3-compatible server from npm pinned in tests/tools/s3rver.
if [ ! -d tests/tools/s3rver/node_modules ]; then (cd tests/tools/s3rver && npm ci --no-audit --no-fund) || status=1; fi
dotnet test Parley.slnx 2>&1 | tee "$results/dotnet.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
summary=$(sed -n '/Test run summary/,$p' "$results/dotnet.log")
if [ -n "$summary" ]; then
  p=$(awk '/succeeded:/ {print $2}' <<<"$summary"); f=$(awk '/failed:/ {print $2}' <<<"$summary"); s=$(awk '/skipped:/ {print $2}' <<<"$summary")
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0})); skipped=$((skipped + ${s:-0}))
else
  echo "dotnet test produced no summary (build failure?)"; failed=$((failed + 1))
fi

# The first failures with their messages, then the names of all failed tests, just above the totals, so that a log
# read from its end shows what failed and why.
details=$(sed 's/\x1b\[[0-9;]*m//g' "$results/dotnet.log" | awk '
  /^[[:space:]]*(passed|skipped) [A-Za-z_]/ { left = 0; }
  /^[[:space:]]*failed [A-Za-z_]/ { if (++shown > 5) exit; left = 12; print "----"; }
  left > 0 { print; left--; }')
if [ -n "$details" ]; then echo "Failure details (first lines of at most five):"; echo "$details"; echo "----"; fi
failures=$(sed 's/\x1b\[[0-9;]*m//g' "$results/dotnet.log" | grep -E '^[[:space:]]*failed [A-Za-z_]' | sed 's/^[[:space:]]*//' | sort -u | head -n 40)
if [ -f "$results/vitest.json" ]; then
  failures+=$'\n'$(node -e 'const r=require(process.argv[1]);for(const f of r.testResults)for(const a of f.assertionResults)if(a.status==="failed")console.log("failed (vitest) "+a.fullName)' "$results/vitest.json")
fi
if grep -q '[^[:space:]]' <<<"$failures"; then echo "Failed tests:"; grep '[^[:space:]]' <<<"$failures"; fi

if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
