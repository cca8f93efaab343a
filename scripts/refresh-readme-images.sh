#!/usr/bin/env bash
# Refreshes the README screenshots in docs/img on purpose. Ordinary test runs write theirs to
# TestResults/screenshots and never touch tracked files; this runs the browser tests that take the README
# pictures with PARLEY_SCREENSHOT_DIR pointed at docs/img. Review the result with `git diff --stat docs/img`.
set -euo pipefail
cd "$(dirname "$0")/.."
(cd web && { [ -d node_modules ] || npm ci --no-audit --no-fund; } && npm run build)
PARLEY_SCREENSHOT_DIR=docs/img dotnet test tests/Parley.Tests --filter \
  "FullyQualifiedName~WidgetBrowserTests|FullyQualifiedName~ConsoleBrowserTests|FullyQualifiedName~RoutingAdminBrowserTests|FullyQualifiedName~ReportsBrowserTests"
git status --short docs/img
