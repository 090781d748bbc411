"""Train a video tokenizer. Example:

    arvid train-tokenizer --config tiny train.steps=200 train.out_dir=runs/tok

`--config` takes a shipped preset name (tiny, base) or a YAML path; `key=value` overrides follow.
`train.data` and `train.val_data` name folders or text manifests of videos and images (read at
train.fps, split at hard cuts, unreadable files skipped with a warning), prepared `_videos.jsonl` /
`_images.jsonl` manifests, or the shapes world ("shapes", "shapes:heldout"; `arvid.tools.data_sources`).
train.num_workers processes draw the batches ahead, the same batches as without them. Writes
checkpoints (atomic folders), eval.jsonl and sample strips under train.out_dir. Under
`torchrun --nproc_per_node N -m arvid.tools.cli train-tokenizer ...` each process trains its share of
every batch (DDP).
"""

from __future__ import annotations

import argparse
import sys

from arvid.configs import ConfigError, resolve_preset
from arvid.tools.errors import UsageError, fail, fail_once, first_process
from arvid.tools.options import SHAPES_SOURCE, check_run_start, finish_run, load_run_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--config", default="tiny", help="preset name (tiny, base) or path to a YAML file")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint in train.out_dir, with the config that run recorded "
                             "(run_config.json) and the overrides given on top")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh even where train.out_dir holds a checkpoint, removing it (and its eval.jsonl "
                             "and sample strips) as the run starts; without it, or --resume, such a start is refused")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. train.steps=100 model.channels=16")


def run(args: argparse.Namespace) -> int:
    from arvid.data.clips import ReadingStopped
    from arvid.tokenizer.train import TokenizerRunConfig, train_tokenizer
    from arvid.tools.data_sources import clip_source
    from arvid.tools.interrupts import sigterm_raises
    from arvid.training.distributed import OtherProcessFailed
    from arvid.training.loop import CheckpointExists, TrainingDiverged

    try:
        config = load_run_config(TokenizerRunConfig, resolve_preset(args.config, "tokenizer"), args)
        check_run_start(config.train, resume=args.resume)
    except (ConfigError, UsageError, CheckpointExists, FileNotFoundError) as err:  # alike in every process
        return fail_once(str(err))
    try:
        with sigterm_raises():  # a scheduler's stop ends the run as Ctrl-C does (exit 130, a message)
            folder = train_tokenizer(config, resume=args.resume, open_clips=_warning_of_shapes_scores(clip_source, config))
    except (FileNotFoundError, ValueError, TrainingDiverged, OtherProcessFailed, CheckpointExists) as err:
        return fail(str(err))
    except ReadingStopped as err:  # a data process killed (memory, most often): not the input's fault
        return fail(str(err), code=1)
    finish_run(folder)
    return 0


def _warning_of_shapes_scores(open_clips, config):
    """`open_clips`, saying once the training data has opened (bad data stays a one-line error) when
    the run trains on your footage but scores on the preset's shapes clips (its held-out PSNR would
    be the shapes world's)."""
    train = config.train

    def opened(name, **kwargs):
        source = open_clips(name, **kwargs)
        if name == train.data and _is_shapes(train.val_data) and not _is_shapes(train.data) and first_process():
            print(f"warning: train.val_data={train.val_data} (the preset's) scores this tokenizer on the synthetic "
                  f"shapes world, not on footage like train.data's: give train.val_data=FOLDER of held-out videos "
                  f"(or null for none)", file=sys.stderr)
        return source

    return opened


def _is_shapes(source: str | None) -> bool:
    """Whether a data setting names the shapes world ("shapes", "shapes:SPLIT")."""
    return source is not None and source.partition(":")[0] == SHAPES_SOURCE
