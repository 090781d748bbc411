"""Train the video LM on token shards. Examples:

    arvid train-lm --config tiny train.steps=500
    torchrun --nproc_per_node 8 -m arvid.tools.cli train-lm --config base train.parallel=fsdp2

`--config` takes a shipped preset name (tiny, base) or a YAML path; `key=value` overrides follow.
Writes checkpoints (atomic folders with the text tokenizer inside) and eval.jsonl under train.out_dir.
"""

from __future__ import annotations

import argparse

from arvid.configs import ConfigError, resolve_preset
from arvid.tools.errors import UsageError, fail, fail_once
from arvid.tools.options import check_run_start, finish_run, load_run_config


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("--config", default="tiny", help="preset name (tiny, base) or path to a YAML file")
    parser.add_argument("--resume", action="store_true",
                        help="continue from the checkpoint in train.out_dir, with the config that run recorded "
                             "(run_config.json) and the overrides given on top")
    parser.add_argument("--overwrite", action="store_true",
                        help="start afresh even where train.out_dir holds a checkpoint, removing it (and its eval.jsonl "
                             "and sample strips) as the run starts; without it, or --resume, such a start is refused")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="e.g. train.steps=100 model.n_layers=4")


def run(args: argparse.Namespace) -> int:
    from arvid.training.loop import CheckpointExists, TrainingDiverged
    from arvid.lm.train import LMRunConfig, train_lm
    from arvid.tools.interrupts import sigterm_raises

    try:  # the settings and the run folder: the same in every process of a torchrun launch, said once
        config = load_run_config(LMRunConfig, resolve_preset(args.config, "lm"), args)
        check_run_start(config.train, resume=args.resume)
    except (ConfigError, UsageError, CheckpointExists, FileNotFoundError, ValueError) as err:
        return fail_once(str(err))
    try:
        with sigterm_raises():  # a scheduler's stop ends the run as Ctrl-C does (exit 130, a message)
            result = train_lm(config, resume=args.resume)
    except (FileNotFoundError, ValueError, TrainingDiverged, CheckpointExists) as err:
        return fail(str(err))
    finish_run(result.checkpoint)
    return 0
