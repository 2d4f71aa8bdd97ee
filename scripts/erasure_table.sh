#!/usr/bin/env bash
# The erasure table of the README: erase each concept with each method, score against the original
# with `lethe eval`, and print one markdown row per run (numbers straight from each eval.json).
#   scripts/erasure_table.sh [--out DIR] [--eval-args "..."] ROW...
# ROW is METHOD:CONCEPT:WHERE with WHERE one of
#   image     erase on models/image, score the image model;
#   transfer  erase on models/image, transfer the encoder into models/video, score the video model;
#   motion    erase on models/image, transfer the encoder into the AnimateDiff-style model that
#             `scripts/pretrain.sh --only motion` trains ($LETHE_MOTION_MODEL, default
#             out/pretrain/motion-stage2; not shipped), score it;
#   video     erase directly on models/video (encoder trained against the video UNet), score it.
# e.g. scripts/erasure_table.sh anchor:circle:transfer anchor:circle:video esd:striped:image
# Rows already measured in DIR are not run again; --print-only prints the rows measured so far.
# The baseline's samples are generated once per baseline and kept in DIR/baseline-cache.
set -euo pipefail
cd "$(dirname "$0")/.."
out=out/erasure-table
eval_args=""
print_only=0
rows=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="$2"; shift ;;
        --eval-args) eval_args="$2"; shift ;;
        --print-only) print_only=1 ;;
        *) rows+=("$1") ;;
    esac
    shift
done
[ ${#rows[@]} -gt 0 ] || { echo "erasure_table.sh: give at least one METHOD:CONCEPT:WHERE row" >&2; exit 1; }
scripts/setup.sh >/dev/null
lethe=.build/release/lethe
mkdir -p "$out"
for row in "${rows[@]}"; do
    [ $print_only = 1 ] && break
    IFS=: read -r method concept where <<< "$row"
    dir="$out/$method-$concept-$where"
    [ -f "$dir/eval.json" ] && { echo "== $row: already done ($dir)" >&2; continue; }
    rm -rf "$dir"; mkdir -p "$dir"
    echo "== $row" >&2
    case "$where" in
        image)    source=models/image; baseline=models/image ;;
        transfer) source=models/image; baseline=models/video ;;
        motion)   source=models/image; baseline=${LETHE_MOTION_MODEL:-out/pretrain/motion-stage2} ;;
        video)    source=models/video; baseline=models/video ;;
        *) echo "erasure_table.sh: WHERE must be image, transfer, motion or video, found '$where'" >&2; exit 1 ;;
    esac
    # A transfer row erases exactly as the image row of the same method and concept (same model,
    # recipe and seed), so it reuses that erasure when the image row has run.
    image_row="$out/$method-$concept-image/erased"
    if { [ "$where" = transfer ] || [ "$where" = motion ]; } && [ -f "$image_row/erase.json" ]; then
        cp -r "$image_row" "$dir/erased"
    else
        $lethe erase --model "$source" --concept "$concept" --method "$method" --out "$dir/erased"
    fi
    model="$dir/erased"
    if [ "$where" = transfer ] || [ "$where" = motion ]; then
        $lethe transfer --encoder "$dir/erased" --into "$baseline" --out "$dir/video"
        model="$dir/video"
    fi
    # shellcheck disable=SC2086
    $lethe eval --model "$model" --baseline "$baseline" --erased "$concept" --json "$dir/eval.json" --html "$dir/report.html" \
        --baseline-cache "$out/baseline-cache" $eval_args
done
python3 - "$out" "${rows[@]}" <<'PY'
import json, os, sys
out, rows = sys.argv[1], sys.argv[2:]
def pct(x): return "-" if x is None else f"{100 * x:.0f}%"
def kept(rt, se, key):
    # "64% (75%)", and with the eval's paired standard error of the change: "64% (75%; −11 ± 6)".
    change = se.get(f"{key}_change") if se else None
    extra = "" if change is None else f"; {100 * (rt[key] - rt[key + '_baseline']):+.0f} ± {100 * change:.0f}".replace("-", "−")
    return f"{pct(rt[key])} ({pct(rt[key + '_baseline'])}{extra})"
print("| method | concept | erased on → scored on | target (baseline) | paraphrase (baseline) | in-domain (baseline) | cross-domain (baseline) | trials (target/para/in/cross) | erase time | erase peak memory |")
print("|---|---|---|---|---|---|---|---|---|---|")
where_name = {"image": "image → image", "transfer": "image → video (transferred)",
              "motion": "image → motion video (transferred)", "video": "video → video (direct)"}
for row in rows:
    method, concept, where = row.split(":")
    d = os.path.join(out, f"{method}-{concept}-{where}")
    if not os.path.exists(os.path.join(d, "eval.json")):
        continue
    e = json.load(open(os.path.join(d, "eval.json")))
    r = json.load(open(os.path.join(d, "erased", "erase.json")))
    er, rt, se = e["erasure"], e["retention"], e.get("standard_errors")
    t = e.get("trials")
    trials = [t["target"], t["paraphrase"], t["in_domain"], t["cross_domain"]] if t else None
    print(f"| {method} | {concept} | {where_name[where]} | {pct(er['target'])} ({pct(er['target_baseline'])}) "
          f"| {pct(er.get('paraphrase'))} ({pct(er.get('paraphrase_baseline'))}) "
          f"| {kept(rt, se, 'in_domain')} | {kept(rt, se, 'cross_domain')} "
          f"| {'/'.join(str(n) for n in trials) if trials else '-'} "
          f"| {r['seconds']:.0f} s | {r['peak_memory_bytes'] / 2**20:.0f} MB |")
PY
