"""The command line as a whole: parsing is cheap (no torch), every option says its default, and one
vocabulary of flags."""

from __future__ import annotations

import argparse
import subprocess
import sys

import pytest

from arvid.tools.cli import SUBCOMMANDS, build_parser, main


def test_parsing_arguments_imports_no_torch():
    """What keeps `arvid --help` quick (benchmarks/cli_startup.py times it): every subcommand's
    parser is built, and a command line parsed, without importing torch or the models."""
    code = ("import sys; from arvid.tools.cli import build_parser; "
            "build_parser().parse_args(['generate', 'a circle', '-o', 'x.gif', '--device', 'cuda:1']); "
            "print(sorted(m for m in ('torch', 'transformers', 'arvid.lm', 'arvid.tokenizer') if m in sys.modules))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]", result.stdout


def _options(parser: argparse.ArgumentParser):
    """(subcommand, action, its help as printed) for every option of every subcommand."""
    subcommands = parser._subparsers._group_actions[0].choices
    for name, subparser in subcommands.items():
        formatter = subparser._get_formatter()
        for action in subparser._actions:
            if action.option_strings and action.help is not argparse.SUPPRESS:
                yield name, action, formatter._expand_help(action) if action.help else ""


def test_every_option_says_its_default():
    parser = build_parser()
    assert set(parser._subparsers._group_actions[0].choices) == set(SUBCOMMANDS)
    silent = []
    for name, action, text in _options(parser):
        is_flag = action.nargs == 0  # --help, store_true: present or not
        if not (is_flag or action.required or "default" in text):
            silent.append(f"arvid {name} {action.option_strings[-1]}")
    assert not silent, "options whose --help does not give their default:\n" + "\n".join(silent)


def test_one_name_per_folder():
    """--model for a model folder, --tokenizer for a tokenizer folder; --ckpt is gone."""
    flags = {}
    for name, action, _ in _options(build_parser()):
        for flag in action.option_strings:
            flags.setdefault(flag, set()).add(name)
    assert "--ckpt" not in flags
    assert flags["--tokenizer"] == {"tokenize", "detokenize", "eval-tokenizer", "tokenize-dataset", "decode"}
    assert flags["--model"] >= {"generate", "eval-video", "export-hf"}


def test_the_precision_names_shown_are_the_trainers():
    from arvid.training.precision import PRECISIONS

    _, action, _ = next(o for o in _options(build_parser()) if o[0] == "tokenize-dataset" and o[1].dest == "precision")
    assert action.metavar == "{" + ",".join(PRECISIONS) + "}"


def test_generate_help_shows_the_shipped_sampling_values(capsys):
    with pytest.raises(SystemExit):
        main(["generate", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "the model's generation config; shipped: 2)" in out  # --cfg
    assert "shipped: 50)" in out and "shipped: motion-medoid)" in out


@pytest.mark.parametrize("argv", [["tokenize", "x.mp4", "--fps", "abc"], ["generate", "--seed"], ["bogus"], [],
                                  ["generate", "a circle", "--frames", "many"]])
def test_a_usage_error_is_one_line_and_exit_2(argv, capsys):
    """argparse's own errors (wrong type, missing argument, unknown command) follow the bad-input
    contract too: one line, exit code 2, no usage block."""
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "error:" in lines[0] and "--help" in lines[0], lines


def test_threads_and_compile_reach_the_loaded_lm():
    """`--threads` and `--compile` (the speed group of generate and eval-video) set the process's
    thread count and compile the LM's decode step; without them nothing changes."""
    import torch

    from arvid.tools.options import apply_runtime_options

    class LoadedLM:
        class model:  # noqa: N801 - stands in for LanguageModel.model
            compiled = 0

            @classmethod
            def compile_decode(cls):
                cls.compiled += 1

    parser = build_parser()
    before = torch.get_num_threads()
    try:
        apply_runtime_options(parser.parse_args(["generate", "a circle", "-o", "x.gif"]), LoadedLM)
        assert LoadedLM.model.compiled == 0 and torch.get_num_threads() == before
        for command in (["generate", "a circle", "-o", "x.gif"], ["eval-video", "--prompt", "a circle"]):
            apply_runtime_options(parser.parse_args([*command, "--compile", "--threads", "1"]), LoadedLM)
            assert torch.get_num_threads() == 1
        assert LoadedLM.model.compiled == 2
    finally:
        torch.set_num_threads(before)


def test_a_run_records_its_data_paths_absolute_joined_manifests_and_names_included(tmp_path, monkeypatch):
    """What `train-tokenizer` writes to run_config.json: each part of a `+`-joined, `@`-weighted
    manifest name made absolute, the shapes world's names and missing paths left as they are."""
    import argparse

    from arvid.configs import resolve_preset
    from arvid.tokenizer.train import TokenizerRunConfig
    from arvid.tools.options import load_run_config

    monkeypatch.chdir(tmp_path)
    (tmp_path / "m").mkdir()
    for name in ("a_videos.jsonl", "b_images.jsonl"):
        (tmp_path / "m" / name).write_text("")
    (tmp_path / "shapes").mkdir()  # a folder of the world's name: the name still means the world

    def recorded(data: str, val_data: str):
        args = argparse.Namespace(resume=False, overwrite=False,
                                  overrides=[f"train.data={data}", f"train.val_data={val_data}", "train.out_dir=run"])
        train = load_run_config(TokenizerRunConfig, resolve_preset("tiny", "tokenizer"), args).train
        return train.data, train.val_data

    assert recorded("m/a_videos.jsonl+m/b_images.jsonl@0.5", "m/a_videos.jsonl@2") == (
        f"{tmp_path}/m/a_videos.jsonl+{tmp_path}/m/b_images.jsonl@0.5", f"{tmp_path}/m/a_videos.jsonl@2")
    assert recorded("shapes", "shapes:heldout") == ("shapes", "shapes:heldout")
    assert recorded("m", "nowhere/") == (f"{tmp_path}/m", "nowhere/")
    # Missing manifests stay as given (the trainer names them), one part or several.
    assert recorded("nowhere_videos.jsonl", "m/a_videos.jsonl+gone_images.jsonl@0.5") == (
        "nowhere_videos.jsonl", f"{tmp_path}/m/a_videos.jsonl+gone_images.jsonl@0.5")


@pytest.mark.parametrize("command", ["train-lm", "train-tokenizer"])
def test_a_bad_setting_under_torchrun_is_said_once_not_once_a_process(command, monkeypatch, capsys):
    """Every process of a launch meets a bad setting alike: the first says it, the others exit 2 quietly."""
    for rank, said in (("0", True), ("1", False)):
        monkeypatch.setenv("RANK", rank)
        assert main([command, "--config", "tiny", "train.stepz=3"]) == 2
        err = capsys.readouterr().err
        assert ("unknown key 'train.stepz'" in err) == said and (err == "") != said


def test_the_commands_filters_match_the_library_warnings_they_replace():
    """`arvid` filters two of the sampler's Python warnings by message (their classes would import torch
    at start-up) and says them its own way: the filters must match what the library says."""
    import importlib
    import inspect
    import re

    from arvid.tools import cli

    stream = importlib.import_module("arvid.sampling.stream")  # the module (the package exports a function of its name)
    assert re.match(cli.UNKNOWN_PROMPT, f"'a cat' {stream.UNKNOWN_PROMPT}; it will draw what it knows")
    assert f'("{cli.TOKENIZER_MISMATCH}' in inspect.getsource(stream.tokenizer_mismatch)  # how its message begins
