#!/usr/bin/env bash
# Remakes the README's generated clips from the shipped models (same prompts, seed 0):
#   clips/models/*.gif   what models/video draws for three prompts (lethe compare, one column);
#   clips/demo/*         the first three comparison clips and the contact sheet of the demo
#                        (run scripts/demo.sh first; its output folder is the argument, default out/demo).
# The ground-truth clips under clips/world are renders of the world and do not change with the models.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh >/dev/null
lethe=.build/release/lethe
demo=${1:-out/demo}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%s\n' "a green circle moving right" "a red cross spinning" "a pink outlined heart moving down" > "$work/prompts.txt"
$lethe compare --models models/video --names video --prompts "$work/prompts.txt" --seeds 1 --out "$work/models"
mkdir -p clips/models clips/demo
cp "$work/models/p0000-s0.gif" clips/models/green-circle-moving-right.gif
cp "$work/models/p0001-s0.gif" clips/models/red-cross-spinning.gif
cp "$work/models/p0002-s0.gif" clips/models/pink-outlined-heart-moving-down.gif
[ -f "$demo/compare/index.json" ] || { echo "readme_clips.sh: no demo output in $demo (run scripts/demo.sh)" >&2; exit 1; }
cp "$demo/compare/p0000-s0.gif" clips/demo/diamond-moving-left.gif
cp "$demo/compare/p0001-s0.gif" clips/demo/rhombus-bouncing.gif
cp "$demo/compare/p0002-s0.gif" clips/demo/square-kept.gif
cp "$demo/compare/contact_sheet.png" clips/demo/contact_sheet.png
echo "readme_clips.sh: clips/models and clips/demo updated" >&2
