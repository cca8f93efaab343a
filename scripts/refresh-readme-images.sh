#!/usr/bin/env bash
# Refreshes the screenshots in docs/img (README and docs/console.md: console-*.png, widget-*.png) on purpose.
# Ordinary test runs write theirs to TestResults/screenshots and never touch tracked files; this runs the browser
# tests that take the pictures with PARLEY_SCREENSHOT_DIR pointed at docs/img. Review the result with
# `git diff --stat docs/img`.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd web && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build)
classes=(
  WidgetBrowserTests ConsoleBrowserTests RoutingAdminBrowserTests ReportsBrowserTests
  WebhooksAdminBrowserTests AccountBrowserTests CannedRepliesBrowserTests AuditLogBrowserTests SupervisionBrowserTests
  TwoFactorBrowserTests AdaptersBrowserTests AlertsAdminBrowserTests DashboardTests CopilotBrowserTests
)
filter=$(printf 'FullyQualifiedName~%s|' "${classes[@]}")
PARLEY_SCREENSHOT_DIR=docs/img dotnet test tests/Parley.Tests --filter "${filter%|}"
git status --short docs/img
