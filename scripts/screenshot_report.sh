#!/usr/bin/env bash
# Screenshot of an HTML report (e.g. from `lethe report`) with headless Chromium, to check by eye
# that its charts, table and embedded clips render. Installs Debian's chromium if it is missing.
#
#   scripts/screenshot_report.sh REPORT.html OUT.png [WIDTH,HEIGHT]
set -euo pipefail

if [ $# -lt 2 ] || [ $# -gt 3 ]; then
    echo "usage: $0 REPORT.html OUT.png [WIDTH,HEIGHT (default 1280,2000)]" >&2
    exit 1
fi
report=$1
out=$2
size=${3:-1280,2000}
if [ ! -f "$report" ]; then
    echo "error: $report: no such file" >&2
    exit 1
fi

browser=""
for name in chromium chromium-browser google-chrome; do
    if command -v "$name" >/dev/null 2>&1; then browser=$(command -v "$name"); break; fi
done
if [ -z "$browser" ]; then
    echo "chromium not found; installing Debian's chromium package" >&2
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
    $sudo apt-get install -y --no-install-recommends chromium >&2 \
        || { $sudo apt-get update >&2 && $sudo apt-get install -y --no-install-recommends chromium >&2; }
    browser=$(command -v chromium)
fi

# Absolute paths: Chromium resolves a relative --screenshot path against its own working directory.
report_abs=$(cd "$(dirname "$report")" && pwd)/$(basename "$report")
mkdir -p "$(dirname "$out")"
out_abs=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")
rm -f "$out_abs"

# A throwaway profile keeps the run from touching (or locking) a user's browser profile.
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --hide-scrollbars \
    --user-data-dir="$profile" --window-size="$size" --virtual-time-budget=3000 \
    --screenshot="$out_abs" "file://$report_abs" >"$profile/chromium.log" 2>&1 || {
    echo "error: chromium failed; its log:" >&2
    cat "$profile/chromium.log" >&2
    exit 2
}

# A PNG starts with these 8 bytes; anything else (or nothing) means the screenshot failed.
if [ ! -s "$out_abs" ] || [ "$(head -c 8 "$out_abs" | od -An -tx1 | tr -d ' \n')" != "89504e470d0a1a0a" ]; then
    echo "error: no PNG screenshot was written to $out" >&2
    cat "$profile/chromium.log" >&2
    exit 2
fi
echo "wrote $out"
