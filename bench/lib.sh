#!/usr/bin/env bash
# Shared helpers for bench/run.sh and bench/smoke.sh (sourced, not run).
# Starts and stops a published Parley server for load; every wait is bounded.

BENCH_PASSWORD="${BENCH_PASSWORD:-Tr4ffic-load-smoke-2026}"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# start_server <published dir> <port> <data dir> <cpu list> [extra env assignments...]
# Sets SERVER_PID. Extra args are NAME=VALUE pairs (database provider etc.). SERVER_EXE names another executable in
# the published folder (bench/run.sh's echo baselines); it must answer GET /health/ready.
start_server() {
  local dir="$1" port="$2" data="$3" cpus="$4"
  shift 4
  mkdir -p "$data"
  local urls="http://127.0.0.1:${port}"
  (
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
    # The content root is the working directory: run from the published folder so its appsettings.json applies.
    cd "$dir"
    exec env \
      ASPNETCORE_URLS="$urls" \
      Parley__Database__DataDirectory="$data" \
      Parley__Bootstrap__AdminEmail=bench@example.com \
      Parley__Bootstrap__AdminPassword="$BENCH_PASSWORD" \
      Parley__Bootstrap__SiteKey=bench \
      Parley__Bootstrap__RequirePasswordChange=false \
      Parley__Widget__SendPerSecond=100000 \
      Parley__Widget__SendBurst=100000 \
      Parley__Widget__SendPerVisitorPerWindow=1000000 \
      Parley__Widget__SessionsPerMinutePerIp=1000000 \
      Parley__Widget__ConnectsPerMinutePerIp=10000000 \
      Parley__Widget__DemoPage=false \
      Parley__Governor__Enabled="${BENCH_GOVERNOR:-false}" \
      Logging__LogLevel__Default=Warning \
      Logging__LogLevel__Microsoft.AspNetCore=Warning \
      Logging__LogLevel__Microsoft.AspNetCore.SignalR="${BENCH_SIGNALR_LOG:-Warning}" \
      Logging__LogLevel__Microsoft.AspNetCore.Http.Connections="${BENCH_SIGNALR_LOG:-Warning}" \
      "$@" \
      taskset -c "$cpus" "$dir/${SERVER_EXE:-Parley.Server}"
  ) >"$data/server.log" 2>&1 &
  SERVER_PID=$!
  # The subshell execs into taskset which execs the server: same pid.
  local i
  for i in $(seq 1 120); do
    if curl -fsS "http://127.0.0.1:${port}/health/ready" >/dev/null 2>&1; then
      return 0
    fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then
      echo "server exited during start; log:" >&2
      tail -40 "$data/server.log" >&2
      return 1
    fi
    sleep 0.5
  done
  echo "server did not become ready in 60 s; log:" >&2
  tail -40 "$data/server.log" >&2
  stop_server
  return 1
}

stop_server() {
  if [ -n "${SERVER_PID:-}" ] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    local i
    for i in $(seq 1 40); do
      kill -0 "$SERVER_PID" 2>/dev/null || break
      sleep 0.25
    done
    kill -KILL "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  SERVER_PID=
}
