#!/usr/bin/env bash
# The test suite: installs what is missing, then runs every Swift test (debug build, checks on).
set -euo pipefail
cd "$(dirname "$0")/.."
LETHE_SKIP_BUILD=1 scripts/setup.sh
swift test "$@"
