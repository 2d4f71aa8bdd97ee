#!/usr/bin/env bash
# Regenerates the committed world tokenizer (configs/world/tokenizer) from the code: only needed
# when the world's training captions change, which WorldTokenizerTests then reports as stale files.
set -euo pipefail
cd "$(dirname "$0")/.."
swift build --product lethe
"$(swift build --show-bin-path)/lethe" world tokenizer --out configs/world/tokenizer
