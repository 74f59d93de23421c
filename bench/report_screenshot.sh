#!/usr/bin/env bash
# Render a mixlab HTML report in headless Chromium (Debian's `chromium`) and save a PNG.
# Usage: bench/report_screenshot.sh REPORT.html OUT.png [WIDTH] [HEIGHT]
set -euo pipefail
report=$(realpath "$1"); out=$(realpath -m "$2"); w=${3:-1280}; h=${4:-3000}
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$profile" --hide-scrollbars --window-size="$w,$h" \
  --screenshot="$out" "file://$report" 2>/dev/null
echo "screenshot -> $out"
