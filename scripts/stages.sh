# Sourced by the training recipes (scripts/train_*.sh) with their arguments: resumable stages, each timed.
#   RUNS: the folder the stages write into (default runs/); a finished stage leaves `$RUNS/.done-NAME`.
#   SHIP: 1 unless the first argument is --no-ship (then the recipe leaves weights/ alone).
RUNS=${RUNS:-runs}
SHIP=1
[[ "${1:-}" == "--no-ship" ]] && SHIP=0
mkdir -p "$RUNS"

# stage NAME COMMAND...: run COMMAND unless NAME finished before; mark it finished on success and
# append its wall-clock time to $RUNS/stage-times.tsv (the recipe's time, stage by stage).
stage() {
  local name=$1; shift
  if [[ -f "$RUNS/.done-$name" ]]; then
    echo "== $name: done before, skipped"
    return
  fi
  echo "== $name: $*"
  local started=$SECONDS
  "$@"
  local took=$((SECONDS - started))
  printf '%s\t%d\t%s\n' "$name" "$took" "$(date -u +%FT%TZ)" >> "$RUNS/stage-times.tsv"
  echo "== $name: done in $((took / 60)) min $((took % 60)) s"
  touch "$RUNS/.done-$name"
}

# --resume only when a checkpoint exists (a first run has none to resume from).
resume_flag() { [[ -d "$1/checkpoint" || -d "$1/checkpoint.old" ]] && echo --resume || true; }
