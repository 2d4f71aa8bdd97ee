#!/usr/bin/env bash
# Installs the Debian packages Lethe needs (quiet and quick when they are already there) and
# builds the release binaries. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(libopenblas-dev libavcodec-dev libavformat-dev libswscale-dev libavutil-dev pkg-config)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "setup: installing ${missing[*]}" >&2
    sudo_cmd=""
    [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ "${LETHE_SKIP_BUILD:-0}" != "1" ]; then
    echo "setup: building (release)" >&2
    swift build -c release >&2 || { echo "setup: build failed" >&2; exit 1; }
    test -x .build/release/lethe
fi
