#!/usr/bin/env bash
# The README's main command: the whole job on the shipped models, end to end.
#   1. erase one object concept ("diamond", the object the shipped models draw best) from the image model's text encoder (default method);
#   2. transfer the erased encoder into the video model (checked for fit first);
#   3. render comparison clips, original vs erased, from the same noise;
#   4. score both video models with the shipped detector and write the JSON and the HTML report.
# Installs what is missing and builds first. Usage: scripts/demo.sh [OUT_DIR] (default out/demo).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
lethe=.build/release/lethe
out=${1:-out/demo}
concept=diamond
rm -rf "$out"
mkdir -p "$out"
t0=$SECONDS
lap() { echo "== $1 ($((SECONDS - t0)) s so far)" >&2; }

lap "erase '$concept' from models/image (text encoder only)"
$lethe erase --model models/image --concept "$concept" --out "$out/image-erased"
lap "transfer the erased encoder into models/video"
$lethe transfer --encoder "$out/image-erased" --into models/video --out "$out/video-erased"
lap "comparison clips"
$lethe compare --models models/video "$out/video-erased" --names original,erased \
    --prompts configs/prompts/demo.txt --seeds 1 --out "$out/compare"
lap "evaluation against the original"
$lethe eval --model "$out/video-erased" --baseline models/video --erased "$concept" \
    --json "$out/eval.json" --html "$out/report.html"
lap "done"
echo "demo: report at $out/report.html (numbers in $out/eval.json, clips in $out/compare/)"
