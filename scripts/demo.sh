#!/usr/bin/env bash
# The README's main command. Installs what is missing and builds, then runs Lethe end to end on
# what ships today and prints where the results are.
#
# Today (see README "Status"): the erase → transfer → compare → eval job needs the clip world's
# trained models, which are not shipped yet. Until they are, this runs the parts that exist on the
# small diffusers-saved reference folders under Tests/LetheModelsTests/Fixtures/pipeline (random
# weights, so their pictures are noise-like): model inspection, text encoding, text → image and
# text → clip generation with classifier-free guidance, and ground-truth clips of the clip world.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
lethe=.build/release/lethe
out=${1:-out/demo}
mkdir -p "$out"
fixtures=Tests/LetheModelsTests/Fixtures/pipeline

echo "== model folders" >&2
$lethe inspect "$fixtures/t2v_tiny" > "$out/t2v_tiny-inspect.txt"
echo "== text encoding" >&2
$lethe encode --model "$fixtures/sd_tiny" --prompt "a red circle" --out "$out/encoding.safetensors"
echo "== text → image, text → clip" >&2
$lethe generate --model "$fixtures/sd_tiny" --prompt "a red circle" --negative-prompt "low quality" --steps 10 --guidance 3 --seed 1 --out "$out/image.png"
$lethe generate --model "$fixtures/t2v_tiny" --prompt "a red circle" --steps 10 --guidance 3 --frames 8 --seed 1 --out "$out/clip.mp4"
$lethe generate --model "$fixtures/t2v_tiny" --prompt "a red circle" --steps 10 --guidance 3 --frames 8 --seed 1 --out "$out/clip.gif"
if $lethe world --help >/dev/null 2>&1; then
    echo "== clip world ground truth" >&2
    $lethe world render --count 8 --seed 1 --gif --out "$out/world"
fi
echo "demo: results in $out/ (inspect report, encoding, image.png, clip.mp4, clip.gif$( [ -d "$out/world" ] && echo ', world/'))"
