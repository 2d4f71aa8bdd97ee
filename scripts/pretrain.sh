#!/usr/bin/env bash
# Reproduces every shipped model from nothing, with the committed recipes and seeds:
#   models/detector  (lethe train detector, configs/train/detector*.yaml)
#   out/pretrain/text (lethe train text,    configs/train/text.yaml: the text encoder both models share)
#   models/image     (lethe train image,    configs/train/image.yaml, image-stage2.yaml, image-stage3.yaml)
#   models/video     (lethe train video,    configs/train/video.yaml from image stage 1, then
#                     video-stage2.yaml: image stage 2's spatial weights, video stage 1's temporal ones)
# then scores the image and video models (lethe eval) into out/pretrain/.
# With --only motion it trains the AnimateDiff-style video model instead (configs/train/motion.yaml,
# then motion-stage2.yaml: models/image's UNet, frozen, plus motion modules; not shipped yet) into
# out/pretrain/motion-stage1 and out/pretrain/motion-stage2, and scores it.
# With --only wide it runs the wider image model (configs/train/image-wide-part*.yaml, an experiment,
# not shipped), part after part, into experiments/image-wide-part*; each part starts from the last.
# A part whose folder is already there (they are committed) is kept: delete it to train it again.
# Each step prints how long it took. A stopped step continues with `scripts/pretrain.sh --resume`.
# Usage: scripts/pretrain.sh [--resume] [--only detector|text|image|video|motion|wide|eval]
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
step image $lethe train image --config configs/train/image.yaml --out out/pretrain/image-stage1 "${resume[@]}"
# Later stages run in pairs side by side, one core each (LETHE_THREADS=1, single-threaded OpenBLAS):
# at these widths a process gets little from a second thread, while two processes train ~1.4x the
# images per second. Every stage keeps the text encoder frozen.
side_by_side() {  # NAME  IMAGE_RECIPE IMAGE_OUT  VIDEO_RECIPE VIDEO_OUT
    local t0=$SECONDS
    echo "== $1, side by side" >&2
    LETHE_THREADS=1 OPENBLAS_NUM_THREADS=1 $lethe train image --config "$2" --out "$3" --dtype float16 "${resume[@]}" &
    local image_pid=$!
    LETHE_THREADS=1 OPENBLAS_NUM_THREADS=1 $lethe train video --config "$4" --out "$5" --dtype float16 "${resume[@]}" &
    local video_pid=$!
    wait $image_pid
    wait $video_pid
    echo "== $1 took $((SECONDS - t0)) s" >&2
}
if [ -z "$only" ] || [ "$only" = image ] || [ "$only" = video ]; then
    # Image stage 2 and video stage 1 both start from image stage 1.
    side_by_side "image stage 2 and video stage 1" configs/train/image-stage2.yaml out/pretrain/image-stage2 \
        configs/train/video.yaml out/pretrain/video-stage1
    # Image stage 3 trains on from stage 2; video stage 2 takes stage 2's spatial weights and video
    # stage 1's temporal layers.
    side_by_side "image stage 3 and video stage 2" configs/train/image-stage3.yaml models/image \
        configs/train/video-stage2.yaml models/video
    # The earlier stages' records travel with the shipped image model.
    cp out/pretrain/text/text_training.json models/image/text_training.json
    cp out/pretrain/image-stage1/training.json models/image/training-stage1.json
    cp out/pretrain/image-stage2/training.json models/image/training-stage2.json
    cp out/pretrain/video-stage1/training.json models/video/training-stage1.json
fi
step eval $lethe eval --model models/image --prompts configs/prompts/v1/eval.jsonl --seeds 1 --limit 200 --json out/pretrain/image-eval.json --html out/pretrain/image-eval.html
step eval $lethe eval --model models/video --prompts configs/prompts/v1/eval.jsonl --seeds 1 --limit 32 --json out/pretrain/video-eval.json --html out/pretrain/video-eval.html
if [ "$only" = motion ]; then
    step motion $lethe train video --config configs/train/motion.yaml --out out/pretrain/motion-stage1 --dtype float16 "${resume[@]}"
    step motion $lethe train video --config configs/train/motion-stage2.yaml --out out/pretrain/motion-stage2 --dtype float16 "${resume[@]}"
    step motion $lethe eval --model out/pretrain/motion-stage2 --prompts configs/prompts/v1/eval.jsonl --seeds 1 --limit 32 --json out/pretrain/motion-eval.json
fi
if [ "$only" = wide ]; then
    for recipe in configs/train/image-wide-part[0-9].yaml; do
        part=$(basename "$recipe" .yaml)
        if [ -d "experiments/$part" ]; then echo "== wide: experiments/$part is there, kept" >&2; continue; fi
        step wide $lethe train image --config "$recipe" --out "experiments/$part" --dtype float16 "${resume[@]}"
        step wide $lethe eval --model "experiments/$part" --prompts configs/prompts/v1/eval.jsonl --seeds 1 --limit 200 \
            --guidance 2.0 --json "out/pretrain/$part-eval.json"
    done
fi
echo "pretrain: models in models/, scores in out/pretrain/" >&2
