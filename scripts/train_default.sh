#!/usr/bin/env bash
# Trains the shipped default model from nothing, stage by stage, on the CPU, then copies its
# weights into the package (weights/) where `arvid generate` finds them. On this project's 2-core
# CPU one end-to-end run took 2 h 11 min (tokenizer 55 min 34 s, shards 9 min 33 s, LM 65 min 58 s).
# The shipped weights' stages, timed one by one (partly beside other jobs), read about 2 h 12 min:
# tokenizer 66 min (23 min 30 s for the whole model, then 2 min 47 s, 21 min 13 s and 18 min 47 s
# for three phases of its decoder alone), text tokenizer 3 s, token shards 9 min 50 s, LM 56 min
# 29 s (one 12,000-step schedule, compiled). Each trainer stops
# at its step count or its time budget (tokenizer 39.5 + 5.5 + 25 + 25 min, LM 75 min), whichever
# comes first: on a slower CPU they stop at their budgets, with fewer steps (earlier sessions here
# measured the tokenizer at 0.47 s a step against 0.27 s in the shipped run).
#
#   bash scripts/train_default.sh              # everything, into runs/ (RUNS=... to move it)
#   bash scripts/train_default.sh --no-ship    # train, but leave weights/ alone
#
# Resumable: run it again after an interruption. A finished stage leaves a `.done` marker and is
# skipped; an interrupted trainer resumes from its last checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-runs}
SHIP=1
[[ "${1:-}" == "--no-ship" ]] && SHIP=0
mkdir -p "$RUNS"

# stage NAME COMMAND...: run COMMAND unless NAME finished before; mark it finished on success.
stage() {
  local name=$1; shift
  if [[ -f "$RUNS/.done-$name" ]]; then
    echo "== $name: done before, skipped"
    return
  fi
  echo "== $name: $*"
  "$@"
  touch "$RUNS/.done-$name"
}

# decoder_phase EDGE_WEIGHT STEPS MINUTES [LR]: the overrides of a phase that trains the decoder alone
# (encoder frozen, so the codes stay the same), by default at a fifth of the first phase's learning rate.
decoder_phase() {
  echo "train.train_encoder=false train.edge_weight=$1 train.steps=$2 train.max_minutes=$3 train.lr=${4:-0.0001}
    train.warmup_steps=50 train.eval_every=300 train.checkpoint_every=300"
}

# --resume only when a checkpoint exists (a first run has none to resume from).
resume_flag() { [[ -d "$1/checkpoint" ]] && echo --resume || true; }

stage tokenizer arvid train-tokenizer --config tiny train.out_dir="$RUNS/tokenizer-tiny" train.max_minutes=39.5 \
  $(resume_flag "$RUNS/tokenizer-tiny")
# The decoder alone, from the tokenizer above: its encoder is frozen, so codes (and the token
# shards made from them) are the same; the decoder learns to draw them more sharply. 900 steps of
# plain L2 (edge_weight 0, which keeps SSIM up: 0.900, against 0.832 before it) took 2 min 47 s on
# this CPU in the last run, 5 min 18 s on a slower day; with the first phase, within 45 minutes.
stage tokenizer-decoder arvid train-tokenizer --config tiny train.out_dir="$RUNS/tokenizer-tiny-decoder" \
  train.init_from="$RUNS/tokenizer-tiny/checkpoint" $(decoder_phase 0 900 5.5) \
  $(resume_flag "$RUNS/tokenizer-tiny-decoder")
# A second decoder phase, from the one above, where errors on object outlines count 6 times again
# (edge_weight 5, as in the first phase): small circles on dark backgrounds had come back as rounded
# squares, though their codes tell them from squares (see configs/tokenizer/tiny.yaml). 3,600 steps
# took 21 min 13 s on one thread beside another job; the encoder stays frozen, so codes do not change.
stage tokenizer-decoder-edges arvid train-tokenizer --config tiny train.out_dir="$RUNS/tokenizer-tiny-decoder-edges" \
  train.init_from="$RUNS/tokenizer-tiny-decoder/checkpoint" $(decoder_phase 5 3600 25) \
  $(resume_flag "$RUNS/tokenizer-tiny-decoder-edges")
# A third decoder phase with a deeper decoder: 4 residual blocks per level instead of 2, the two new
# ones starting as identities (`arvid.tokenizer.grow`), so it starts from the decoder above exactly.
# Small circles still came back as rounded squares in a third of renders; the extra steps (most of the
# gain) and depth draw them round (see configs/tokenizer/tiny.yaml). 3,600 steps at lr 2e-4 took
# 18 min 47 s on two threads.
stage tokenizer-decoder-deeper arvid train-tokenizer --config tiny model.decoder_res_blocks=4 \
  train.out_dir="$RUNS/tokenizer-tiny-decoder-deeper" train.init_from="$RUNS/tokenizer-tiny-decoder-edges/checkpoint" \
  $(decoder_phase 5 3600 25 0.0002) $(resume_flag "$RUNS/tokenizer-tiny-decoder-deeper")
stage text-tokenizer arvid train-text-tokenizer -o "$RUNS/text-tokenizer"
# 24,000 training videos of 33 frames (9 latent frames): the LM draws each about 8 times in its 12,000
# steps. (From 3,600 videos it drew 18 windows each and learnt them by heart: loss 0.754 on its
# training videos against 1.136 on new videos of the same prompts.) The default --precision auto
# encodes under bf16 on this CPU: 9 min 40 s for the 24,000 videos against 14 min 33 s in fp32, 98%
# of codes the same; the shipped LM was trained on such shards.
stage tokens-train arvid tokenize-dataset --tokenizer "$RUNS/tokenizer-tiny/checkpoint" --videos 24000 --frames 33 \
  --batch-size 16 -o "$RUNS/shapes-tokens/train"
stage tokens-heldout arvid tokenize-dataset --tokenizer "$RUNS/tokenizer-tiny/checkpoint" --split heldout --videos 64 \
  --frames 33 --seed 1 -o "$RUNS/shapes-tokens/heldout"
# New videos of the training prompts (another seed): the LM's log compares their loss with its training videos'.
stage tokens-unseen arvid tokenize-dataset --tokenizer "$RUNS/tokenizer-tiny/checkpoint" --videos 64 --frames 33 \
  --seed 2 -o "$RUNS/shapes-tokens/unseen"
LM_DATA=(train.data="$RUNS/shapes-tokens/train" train.val_data="$RUNS/shapes-tokens/heldout"
  train.unseen_data="$RUNS/shapes-tokens/unseen" train.text_tokenizer="$RUNS/text-tokenizer")
stage lm arvid train-lm --config tiny train.out_dir="$RUNS/lm-tiny" "${LM_DATA[@]}" $(resume_flag "$RUNS/lm-tiny")

if [[ $SHIP == 1 ]]; then
  cp "$RUNS/tokenizer-tiny-decoder-deeper/checkpoint/"{config.json,model.safetensors} weights/tokenizer/
  cp "$RUNS/lm-tiny/checkpoint/"{config.json,model.safetensors,text_tokenizer.model} weights/lm/
  echo "== shipped: weights/tokenizer and weights/lm now hold this run's models"
fi
