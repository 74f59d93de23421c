#!/usr/bin/env bash
# Render a mixlab HTML report in headless Chromium (Debian's `chromium`), save a PNG, and check
# that nothing is wider than the page: a copy of the report with a one-line script reports the
# page's scroll width against the window width (the report itself has no script).
# Usage: bench/report_screenshot.sh REPORT.html OUT.png [WIDTH] [HEIGHT]
set -euo pipefail
report=$(realpath "$1"); out=$(realpath -m "$2"); w=${3:-1280}; h=${4:-3000}
profile=$(mktemp -d); probe=$(mktemp --suffix=.html)
trap 'rm -rf "$profile" "$probe"' EXIT
flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
  --disable-background-networking --disable-component-update --disable-sync
  --user-data-dir="$profile" --hide-scrollbars --window-size="$w,$h")
chromium "${flags[@]}" --screenshot="$out" "file://$report" 2>/dev/null
echo "screenshot -> $out"
{ cat "$report"; echo '<script>document.body.dataset.width = document.documentElement.scrollWidth' \
  '+ "/" + document.documentElement.clientWidth;</script>'; } > "$probe"
widths=$(chromium "${flags[@]}" --dump-dom "file://$probe" 2>/dev/null |
  grep -o 'data-width="[0-9]*/[0-9]*"' | grep -o '[0-9]*/[0-9]*')
echo "page scroll width / window width at ${w}px: $widths"
[ "${widths%/*}" -le "${widths#*/}" ] || { echo "FAIL: the page is wider than the window"; exit 1; }
