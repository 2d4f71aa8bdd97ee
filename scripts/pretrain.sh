#!/usr/bin/env bash
# Reproduces every shipped model from nothing, with the committed recipes and seeds:
#   models/detector   (lethe train detector, configs/train/detector*.yaml)
#   out/pretrain/text (lethe train text, configs/train/text.yaml: the text encoder every model shares)
#   models/image      (--only image: the wide run, configs/train/image-wide-part1..3.yaml, part after
#                      part into experiments/image-wide-part*, each starting from the last; models/image
#                      is part 3 with generation_config.json (guidance 2.0) and the parts' records)
#   models/video      (--only video: configs/train/video-wide-part1.yaml, image-wide-part3 inflated and
#                      trained on clips, into experiments/video-wide-part1; models/video is that folder
#                      with generation_config.json (guidance 2.5))
# then scores the image and video models (lethe eval) into out/pretrain/.
# A wide part whose folder is already there (they are committed) is kept: delete it to train it again.
# With --only narrow it trains the narrower 32/64/64-channel models the README's experiments start
# from (the image and video models shipped until 2026-12-07), on the text encoder of --only text:
# configs/train/image.yaml, then image-stage2.yaml beside video.yaml, then video-stage2.yaml beside
# image-stage3.yaml, into out/pretrain/image-stage1..3 and video-stage1..2.
# With --only motion it trains the AnimateDiff-style video model instead (configs/train/motion.yaml,
# then motion-stage2.yaml; not shipped; it needs --only narrow first) into out/pretrain/motion-stage1
# and motion-stage2, and scores it.
# Each step prints how long it took. A stopped step continues with `scripts/pretrain.sh --resume`.
# Usage: scripts/pretrain.sh [--resume] [--only detector|text|image|video|eval|narrow|motion]
set -euo pipefail
cd "$(dirname "$0")/.."
resume=()
only=""
while [ $# -gt 0 ]; do
    case "$1" in
        --resume) resume=(--resume) ;;
        --only) only="$2"; shift ;;
        *) echo "pretrain.sh: unknown argument $1" >&2; exit 1 ;;
    esac
    shift
done
scripts/setup.sh
lethe=.build/release/lethe
mkdir -p out/pretrain

step() {
    local name=$1; shift
    [ -n "$only" ] && [ "$only" != "$name" ] && return 0
    local t0=$SECONDS
    echo "== $name: $*" >&2
    "$@"
    echo "== $name took $((SECONDS - t0)) s" >&2
}

step detector $lethe train detector --config configs/train/detector.yaml --out models/detector "${resume[@]}"
if [ -f configs/train/detector-stage2.yaml ]; then
    step detector $lethe train detector --config configs/train/detector-stage2.yaml --out models/detector "${resume[@]}"
fi
step text $lethe train text --config configs/train/text.yaml --out out/pretrain/text "${resume[@]}"
# Later stages run single-threaded (LETHE_THREADS=1, single-threaded OpenBLAS), two side by side where
# they can: at these widths a process gets little from a second thread, while two processes train
# ~1.4x the images per second. Every stage keeps the text encoder frozen.
one_core() { LETHE_THREADS=1 OPENBLAS_NUM_THREADS=1 "$@"; }
side_by_side() {  # NAME  IMAGE_RECIPE IMAGE_OUT  VIDEO_RECIPE VIDEO_OUT
    local t0=$SECONDS
    echo "== narrow: $1, side by side" >&2
    one_core $lethe train image --config "$2" --out "$3" --dtype float16 "${resume[@]}" &
    local image_pid=$!
    one_core $lethe train video --config "$4" --out "$5" --dtype float16 "${resume[@]}" &
    local video_pid=$!
    wait $image_pid
    wait $video_pid
    echo "== narrow: $1 took $((SECONDS - t0)) s" >&2
}
if [ "$only" = narrow ]; then
    step narrow $lethe train image --config configs/train/image.yaml --out out/pretrain/image-stage1 "${resume[@]}"
    # Image stage 2 (video stage 2's spatial weights) and video stage 1 both start from image stage 1.
    side_by_side "image stage 2 and video stage 1" configs/train/image-stage2.yaml out/pretrain/image-stage2 \
        configs/train/video.yaml out/pretrain/video-stage1
    # Video stage 2 takes image stage 2's spatial weights and video stage 1's temporal layers;
    # beside it, image stage 3 trains on from stage 2.
    side_by_side "image stage 3 and video stage 2" configs/train/image-stage3.yaml out/pretrain/image-stage3 \
        configs/train/video-stage2.yaml out/pretrain/video-stage2
fi
# Trains the parts of a split run, configs/train/PREFIX-part*.yaml, in order into experiments/, each
# starting from the last; a part whose folder is there is kept. RUNNER (e.g. one_core) may wrap lethe.
train_parts() {  # KIND PREFIX [RUNNER...]
    local kind=$1 prefix=$2 recipe part; shift 2
    for recipe in configs/train/$prefix-part[0-9].yaml; do
        part=$(basename "$recipe" .yaml)
        if [ -d "experiments/$part" ]; then echo "== $kind: experiments/$part is there, kept" >&2; continue; fi
        step "$kind" "$@" $lethe train "$kind" --config "$recipe" --out "experiments/$part" --dtype float16 "${resume[@]}"
    done
}
# Makes DEST from the model folder FROM with generation_config.json (the guidance it was chosen at)
# and extra records (SOURCE=NAME), written beside DEST and moved into place.
ship() {  # FROM DEST GUIDANCE [SOURCE=NAME...]
    local from=$1 dest=$2 guidance=$3 f tmp; shift 3
    tmp=$(mktemp -d "$(dirname "$dest")/.$(basename "$dest").XXXXXX") && chmod 755 "$tmp"
    for f in model_index.json scheduler text_encoder tokenizer unet training.json; do cp -r "$from/$f" "$tmp/"; done
    for f in "$@"; do cp "${f%%=*}" "$tmp/${f#*=}"; done
    printf '{\n  "guidance_scale": %s\n}\n' "$guidance" > "$tmp/generation_config.json"
    rm -rf "$dest" && mv "$tmp" "$dest"
}
if [ -z "$only" ] || [ "$only" = image ]; then
    train_parts image image-wide
    text_record=out/pretrain/text/text_training.json
    [ -f "$text_record" ] || text_record=models/image/text_training.json
    ship experiments/image-wide-part3 models/image 2.0 experiments/image-wide-part1/training.json=training-part1.json \
        experiments/image-wide-part2/training.json=training-part2.json "$text_record=text_training.json"
fi
if [ -z "$only" ] || [ "$only" = video ]; then
    train_parts video video-wide one_core
    ship "$(ls -d experiments/video-wide-part[0-9] | tail -1)" models/video 2.5
fi
step eval $lethe eval --model models/image --prompts configs/prompts/v1/eval.jsonl --seeds 1 --limit 200 --json out/pretrain/image-eval.json --html out/pretrain/image-eval.html
step eval $lethe eval --model models/video --prompts configs/prompts/v1/eval.jsonl --seeds 1 --limit 64 --json out/pretrain/video-eval.json --html out/pretrain/video-eval.html
if [ "$only" = motion ]; then
    step motion $lethe train video --config configs/train/motion.yaml --out out/pretrain/motion-stage1 --dtype float16 "${resume[@]}"
    step motion $lethe train video --config configs/train/motion-stage2.yaml --out out/pretrain/motion-stage2 --dtype float16 "${resume[@]}"
    step motion $lethe eval --model out/pretrain/motion-stage2 --prompts configs/prompts/v1/eval.jsonl --seeds 1 --limit 32 --json out/pretrain/motion-eval.json
fi
echo "pretrain: models in models/, scores in out/pretrain/" >&2
