"""The bad-input contract, as a matrix: every command that reads a file, run against every kind of bad
file, and every command against bad option values. Each case must end with exit code 2 and one line
on stderr (`arvid: error: ...`) that names the file (and the line, for line-based files); never a
traceback, never a silent success.

A case is (command, kind of bad input, arguments). The bad files are built once, in a workspace, by
kind: the same damaged video is given to every command that reads videos, the same damaged model
folder to every command that loads one. Commands run in-process (`arvid.tools.cli.main`); stderr is
captured at the file descriptor, so FFmpeg's or a library's own printing would count as a line too.
Models are tiny random ones, except where the damage is to the shipped weights.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from lm_fixtures import shapes_text_tokenizer, tiny_config, write_caption_shards

from arvid.data.token_stream import write_token_frame
from arvid.data.video_writer import write_video
from arvid.lm.checkpoint import VideoLM
from arvid.lm.model import Transformer
from arvid.tokenizer import TokenizerConfig, VideoTokenizer
from arvid.tools.cli import main
from arvid.training.checkpoint import save_tensors
from arvid.weights import shipped_model_dir

TOKENIZER = TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4, codebook_bits=6)
GRID = (4, 4)  # the tiny tokenizer's latent grid: 32 / 8
CODEBOOK = 64
FORBIDDEN = "/proc/forbidden"  # a folder no one can create files in

# ---------------------------------------------------------------------------------------------------------------------
# Bad files, by family. Each family is a folder of the workspace; each kind a file (or folder, or link) in it. The
# names are what the message must contain.


def _flip(data: bytes, offset: int, count: int = 1) -> bytes:
    """`data` with every bit of `count` bytes from `offset` inverted."""
    flipped = bytearray(data)
    for index in range(offset, offset + count):
        flipped[index] ^= 0xFF
    return bytes(flipped)


def _common(folder: Path, suffix: str) -> dict[str, Path]:
    """The kinds every family has: missing, empty, text, a dangling symlink, a folder in the file's place."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"empty{suffix}").write_bytes(b"")
    (folder / f"text{suffix}").write_text("these are words, not what was asked for\n")
    (folder / f"dangling{suffix}").symlink_to(folder / f"nowhere{suffix}")
    (folder / f"folder{suffix}").mkdir()
    return {name: folder / f"{name}{suffix}" for name in ("missing", "empty", "text", "dangling", "folder")}


def _faststart_mp4(path: Path, frames: np.ndarray) -> None:
    """An mp4 with its index (moov) before the frames, as streaming sites serve them: cut short, it
    still opens, and fails while decoding."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=8)
        stream.pix_fmt, stream.height, stream.width = "yuv420p", frames.shape[1], frames.shape[2]
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode(None))


def _audio_only(path: Path) -> None:
    """An .m4a holding one AAC audio stream and no video."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=16000)
        for index in range(8):
            frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
            frame.sample_rate, frame.pts = 16000, index * 1024
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))


def video_files(folder: Path) -> dict[str, Path]:
    files = _common(folder, ".mp4")
    frames = np.random.default_rng(0).integers(0, 256, (13, 48, 48, 3), dtype=np.uint8)
    _faststart_mp4(folder / "whole.mp4", frames)
    data = (folder / "whole.mp4").read_bytes()
    moov = data.index(b"moov") - 4
    mdat = data.index(b"mdat") - 4
    (folder / "truncated.mp4").write_bytes(data[: mdat + (len(data) - mdat) // 2])
    (folder / "header_only.mp4").write_bytes(data[:mdat])  # ftyp and moov: no frame data
    (folder / "bit_flipped.mp4").write_bytes(_flip(data, moov + 8, 8))  # the index's first bytes
    _audio_only(folder / "audio_only.m4a")
    write_video(folder / "whole.gif", frames, fps=8)
    gif = (folder / "whole.gif").read_bytes()
    (folder / "truncated.gif").write_bytes(gif[: len(gif) // 2])  # decodes to fewer frames if unchecked
    return files | {"truncated": folder / "truncated.mp4", "header only": folder / "header_only.mp4",
                    "bit-flipped": folder / "bit_flipped.mp4", "audio only": folder / "audio_only.m4a",
                    "truncated gif": folder / "truncated.gif"}


def image_files(folder: Path) -> dict[str, Path]:
    from PIL import Image

    files = _common(folder, ".png")
    Image.fromarray(np.random.default_rng(1).integers(0, 256, (40, 40, 3), dtype=np.uint8)).save(folder / "whole.png")
    data = (folder / "whole.png").read_bytes()
    (folder / "truncated.png").write_bytes(data[: len(data) // 2])
    (folder / "header_only.png").write_bytes(data[:33])  # signature and IHDR
    (folder / "bit_flipped.png").write_bytes(_flip(data, 16, 8))  # IHDR's width and height
    _audio_only(folder / "audio_only.m4a")
    return files | {"truncated": folder / "truncated.png", "header only": folder / "header_only.png",
                    "bit-flipped": folder / "bit_flipped.png", "audio only": folder / "audio_only.m4a"}


def _file_name(kind: str) -> str:
    return kind.replace(" ", "_").replace("-", "_")


def codes_files(folder: Path) -> dict[str, Path]:
    """.npy files for `arvid detokenize`: the tiny tokenizer takes (t', h', w') integer codes in [0, 64), t' >= 1 and
    any grid of at least 1x1 (other grids than its trained 4x4 decode to other frame sizes: tests/test_cli.py)."""
    files = _common(folder, ".npy")
    good = np.random.default_rng(2).integers(0, CODEBOOK, (3, *GRID)).astype(np.int32)
    np.save(folder / "whole.npy", good)
    data = (folder / "whole.npy").read_bytes()
    header = data.index(b"\n") + 1
    arrays = {
        "2-D": good[0], "4-D": good[None], "float": good.astype(np.float32) + 0.5, "bool": good > 10,
        "out of range": np.full((2, *GRID), CODEBOOK, np.int32), "negative": np.full((2, *GRID), -1, np.int32),
        "no frames": np.zeros((0, *GRID), np.int32), "empty grid": np.zeros((3, 0, 4), np.int32),
        "complex": good.astype(np.complex64), "huge values": np.full((2, *GRID), 2**40, np.int64),
        # For the shipped tokenizer (64 x 64 frames, an 8 x 8 grid).
        "no frames of 8x8": np.zeros((0, 8, 8), np.int32),
    }
    for kind, array in arrays.items():
        np.save(folder / f"{_file_name(kind)}.npy", array)
    np.save(folder / "pickled.npy", np.array([{"codes": 1}], dtype=object), allow_pickle=True)
    (folder / "truncated.npy").write_bytes(data[: header + (len(data) - header) // 2])
    (folder / "header_only.npy").write_bytes(data[:header])
    (folder / "bit_flipped.npy").write_bytes(_flip(data, 12, 4))  # inside the header's dict
    return files | {kind: folder / f"{_file_name(kind)}.npy" for kind in arrays} | {
        "pickled objects": folder / "pickled.npy", "truncated": folder / "truncated.npy",
        "header only": folder / "header_only.npy", "bit-flipped": folder / "bit_flipped.npy"}


def stream_files(folder: Path) -> dict[str, Path]:
    """NDJSON token streams for `arvid decode`; `line` is the line the message must name (None: none)."""
    files = _common(folder, ".ndjson")
    good = np.random.default_rng(3).integers(0, CODEBOOK, (3, *GRID))
    with open(folder / "whole.ndjson", "w") as out:
        for index, codes in enumerate(good):
            write_token_frame(out, index, codes)
    lines = (folder / "whole.ndjson").read_text().splitlines(keepends=True)
    line = lambda index, codes, shape=None: json.dumps(  # noqa: E731
        {"index": index, "shape": list(np.shape(codes)) if shape is None else shape, "codes": codes}) + "\n"
    bodies = {
        "truncated line": "".join(lines[:2]) + lines[2][: len(lines[2]) // 2],
        "malformed line": lines[0] + '{"index": 1, "shape": [4, 4], "codes": [[1, 2, 3, 4], [5,\n' + lines[2],
        "not an object": lines[0] + "[1, 2, 3]\n",
        "no codes": lines[0] + '{"index": 1, "shape": [4, 4]}\n',
        "shape mismatch": lines[0] + line(1, good[1].tolist(), [4, 5]),
        "wrong grid": lines[0] + line(1, np.zeros((2, 2), int).tolist()),
        "out of range": lines[0] + line(1, np.full(GRID, CODEBOOK).tolist()),
        "negative": lines[0] + line(1, np.full(GRID, -1).tolist()),
        "non-integer": lines[0] + line(1, np.full(GRID, 1.5).tolist()),
        "string codes": lines[0] + line(1, np.full(GRID, "a").tolist()),
        "out of order": lines[0] + line(2, good[1].tolist()),
        "huge values": lines[0] + line(1, np.full(GRID, 2**70).tolist()),
    }
    for kind, body in bodies.items():
        (folder / f"{kind.replace(' ', '_').replace('-', '_')}.ndjson").write_text(body)
    (folder / "bit_flipped.ndjson").write_bytes(lines[0].encode() + _flip(lines[1].encode(), 3, 6))
    return files | {kind: folder / f"{kind.replace(' ', '_').replace('-', '_')}.ndjson" for kind in bodies} | {
        "bit-flipped": folder / "bit_flipped.ndjson"}


# The line a stream's message must name, by kind.
STREAM_LINES = {"truncated line": 3, "malformed line": 2, "not an object": 2, "no codes": 2, "shape mismatch": 2,
                "wrong grid": 2, "out of range": 2, "negative": 2, "non-integer": 2, "string codes": 2,
                "out of order": 2, "huge values": 2, "bit-flipped": 2}


def config_files(folder: Path) -> dict[str, Path]:
    """YAML presets for `arvid train-tokenizer` / `arvid train-lm --config`."""
    files = _common(folder, ".yaml")
    bodies = {
        "truncated": "model:\n  channels: [1, 2\ntrain:\n  steps: 3\n",
        "not a mapping": "- model\n- train\n",
        "unknown key": "model:\n  chanels: 8\n",
        "wrong type": "train:\n  steps: many\n",
        "section not a mapping": "train: 5\n",
    }
    for kind, body in bodies.items():
        (folder / f"{kind.replace(' ', '_')}.yaml").write_text(body)
    (folder / "bit_flipped.yaml").write_bytes(_flip(b"train:\n  steps: 3\n", 2, 3))
    return files | {kind: folder / f"{kind.replace(' ', '_')}.yaml" for kind in bodies} | {
        "bit-flipped": folder / "bit_flipped.yaml"}


LISTED_VIDEOS = ("truncated", "audio only", "folder", "empty", "text", "truncated gif")


def manifest_files(folder: Path, videos: dict[str, Path]) -> dict[str, Path]:
    """JSON-lines manifests of captioned videos; the kinds after the common ones list a bad video."""
    files = _common(folder, ".jsonl")
    good = json.dumps({"path": str(videos["whole"]), "caption": "a red circle"}) + "\n"
    bodies = {
        "truncated line": good + good[: len(good) // 2],
        "malformed line": good + "{path: x}\n",
        "no caption": good + json.dumps({"path": str(videos["whole"])}) + "\n",
        "not an object": good + "[1, 2]\n",
        "listed video: missing": good + json.dumps({"path": "gone.mp4", "caption": "x"}) + "\n",
    }
    for kind in LISTED_VIDEOS:
        bodies[f"listed video: {kind}"] = json.dumps({"path": str(videos[kind]), "caption": "a circle"}) + "\n"
    for kind, body in bodies.items():
        (folder / f"{_file_name(kind).replace(':', '')}.jsonl").write_text(body)
    (folder / "bit_flipped.jsonl").write_bytes(good.encode() + _flip(good.encode(), 2, 6))
    return files | {kind: folder / f"{_file_name(kind).replace(':', '')}.jsonl" for kind in bodies} | {
        "bit-flipped": folder / "bit_flipped.jsonl"}


def model_folders(folder: Path, model: Path) -> dict[str, Path]:
    """Damaged copies of the tiny model folder (lm/ and tokenizer/); the part named is what must be named."""
    folder.mkdir(parents=True)
    kinds: dict[str, Path] = {"missing": folder / "missing", "a file": model.parent / "videos" / "whole.mp4"}
    (folder / "empty").mkdir()
    kinds["empty folder"] = folder / "empty"
    (folder / "dangling").symlink_to(folder / "nowhere")
    kinds["dangling symlink"] = folder / "dangling"

    def damaged(name: str, damage) -> None:
        copy = folder / name.replace(" ", "_")
        shutil.copytree(model, copy)
        damage(copy)
        kinds[name] = copy

    damaged("no lm", lambda m: shutil.rmtree(m / "lm"))
    damaged("lm config text", lambda m: (m / "lm" / "config.json").write_text("not json at all"))
    damaged("lm config empty", lambda m: (m / "lm" / "config.json").write_text(""))
    damaged("lm config binary", lambda m: (m / "lm" / "config.json").write_bytes(bytes(range(256))))
    damaged("lm config folder", lambda m: ((m / "lm" / "config.json").unlink(), (m / "lm" / "config.json").mkdir()))
    damaged("lm is a tokenizer", lambda m: (shutil.rmtree(m / "lm"), shutil.copytree(m / "tokenizer", m / "lm")))
    damaged("lm weights missing", lambda m: (m / "lm" / "model.safetensors").unlink())
    damaged("lm weights text", lambda m: (m / "lm" / "model.safetensors").write_text("weights"))
    damaged("lm weights of another size", lambda m: save_tensors(
        m / "lm" / "model.safetensors", Transformer(tiny_config(dim=32, video_vocab_size=64, tokens_per_frame=16,
                                                               window_frames=3)).state_dict()))
    damaged("lm weights missing a tensor", lambda m: save_tensors(
        m / "lm" / "model.safetensors", dict(list(VideoLM.from_pretrained(m / "lm").model.state_dict().items())[1:])))
    damaged("text tokenizer corrupt", lambda m: (m / "lm" / "text_tokenizer.model").write_bytes(b"\x08\x01garbage"))
    damaged("text tokenizer missing", lambda m: (m / "lm" / "text_tokenizer.model").unlink())
    damaged("generation config corrupt", lambda m: (m / "lm" / "generation_config.json").write_text('{"top_k": '))
    damaged("generation config wrong value", lambda m: (m / "lm" / "generation_config.json").write_text(
        '{"top_k": -3}'))
    damaged("no tokenizer", lambda m: shutil.rmtree(m / "tokenizer"))
    damaged("tokenizer config text", lambda m: (m / "tokenizer" / "config.json").write_text("hello"))
    damaged("tokenizer weights bit-flipped header", lambda m: (m / "tokenizer" / "model.safetensors").write_bytes(
        _flip((m / "tokenizer" / "model.safetensors").read_bytes(), 8, 1)))
    damaged("tokenizer of another codebook", lambda m: VideoTokenizer(
        dataclasses.replace(TOKENIZER, codebook_bits=5)).save_pretrained(m / "tokenizer"))

    # The shipped weights, cut short and bit-flipped: the defects a half-finished download or copy leaves.
    shipped = shipped_model_dir()
    for name, part, damage in (
            ("shipped lm weights truncated", "lm", lambda path: os.truncate(path, 5_000_000)),
            ("shipped lm weights bit-flipped header", "lm",
             lambda path: path.write_bytes(_flip(path.read_bytes(), 8, 1))),
            ("shipped tokenizer weights truncated", "tokenizer", lambda path: os.truncate(path, 5_000_000))):
        copy = folder / name.replace(" ", "_")
        shutil.copytree(shipped / "lm", copy / "lm", ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copytree(shipped / "tokenizer", copy / "tokenizer")
        damage(copy / part / "model.safetensors")
        kinds[name] = copy
    return kinds


# The part of a damaged model folder the message must name (default: the folder's own name).
MODEL_NAMES = {"a file": "whole.mp4", "no lm": "lm", "no tokenizer": "tokenizer", "lm config text": "config.json",
               "lm config empty": "config.json", "lm config binary": "config.json", "lm config folder": "config.json",
               "lm weights missing": "model.safetensors", "lm weights text": "model.safetensors",
               "lm weights of another size": "model.safetensors", "lm weights missing a tensor": "model.safetensors",
               "text tokenizer corrupt": "text_tokenizer.model", "text tokenizer missing": "text_tokenizer.model",
               "generation config corrupt": "generation_config.json",
               "generation config wrong value": "generation_config.json", "tokenizer config text": "config.json",
               "tokenizer weights bit-flipped header": "model.safetensors",
               "shipped lm weights truncated": "model.safetensors",
               "shipped lm weights bit-flipped header": "model.safetensors",
               "shipped tokenizer weights truncated": "model.safetensors"}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    """The workspace: good inputs (a tiny model, a clip, token shards, a text tokenizer) and the bad files."""
    root = tmp_path_factory.mktemp("bad-inputs")
    torch.manual_seed(0)
    model = root / "model"
    VideoTokenizer(TOKENIZER).save_pretrained(model / "tokenizer")
    text = shapes_text_tokenizer()
    VideoLM(Transformer(tiny_config(video_vocab_size=CODEBOOK, tokens_per_frame=16, window_frames=3)), text,
            generation_config={"top_k": 10}).save_pretrained(model / "lm")
    files = {"video": video_files(root / "videos"), "image": image_files(root / "images"),
             "codes": codes_files(root / "codes"), "stream": stream_files(root / "streams"),
             "config": config_files(root / "configs")}
    files["video"]["whole"] = root / "videos" / "whole.mp4"
    files["manifest"] = manifest_files(root / "manifests", files["video"])
    files["model"] = model_folders(root / "models", model)
    # Tokenizer folders: the tokenizer/ of a damaged model folder, or the folder itself for the kinds without one.
    files["tokenizer"] = {kind: (path / "tokenizer" if (path / "tokenizer").is_dir() else path)
                          for kind, path in files["model"].items() if "tokenizer" in kind or "lm" not in kind}
    files["tokenizer"]["an lm"] = model / "lm"
    # LM training data: shards that fit `LM_MODEL`, a text tokenizer, and checkpoints to resume from.
    (root / "a_file.txt").write_text("a file where a folder is expected\n")
    write_caption_shards(root / "shards", videos=8)
    (root / "text").mkdir()
    text.save(root / "text")
    resume = {}
    for kind in ("another architecture", "weights truncated", "state corrupt", "state missing"):
        checkpoint = root / "resume" / kind.replace(" ", "_") / "checkpoint"
        # The run's model (`LM_MODEL`), but for the kind that is another architecture.
        lm = VideoLM(Transformer(tiny_config(dim=32 if kind == "another architecture" else 64, video_vocab_size=16,
                                             tokens_per_frame=4, frame_width=2, grid_positions=False,
                                             bidirectional_prefix=False)), text)
        lm.save_pretrained(checkpoint)
        (checkpoint / "trainer_state.json").write_text(json.dumps({"step": 1, "optimizer": {}}))
        resume[kind] = checkpoint.parent
    os.truncate(root / "resume" / "weights_truncated" / "checkpoint" / "model.safetensors", 1000)
    (root / "resume" / "state_corrupt" / "checkpoint" / "trainer_state.json").write_text('{"step": ')
    (root / "resume" / "state_missing" / "checkpoint" / "trainer_state.json").unlink()
    files["resume"] = resume
    tokenizer_resume = root / "resume-tokenizer" / "checkpoint"
    VideoTokenizer(dataclasses.replace(TOKENIZER, channels=16)).save_pretrained(tokenizer_resume)
    (tokenizer_resume / "trainer_state.json").write_text(json.dumps({"step": 1}))
    files["resume"]["tokenizer of another architecture"] = tokenizer_resume.parent
    return root, model, files


# ---------------------------------------------------------------------------------------------------------------------
# The matrix. Arguments are templates: {bad} the bad input, {out} a fresh output folder, {tok} / {model} the tiny
# tokenizer / model folder, {clip} a good video, {root} the workspace.

PROMPT = "a red circle moving left"
TINY_TOKENIZER_RUN = ["model.image_size=32", "model.channels=8", "model.norm_groups=4", "model.codebook_bits=6",
                      "train.clip_frames=5", "train.batch_size=2", "train.eval_videos=2", "train.eval_frames=5",
                      "train.steps=1", "train.max_minutes=0.5", "train.out_dir={out}/run"]
LM_MODEL = ["model.dim=64", "model.n_layers=2", "model.n_heads=4", "model.n_kv_heads=2", "model.video_vocab_size=16",
            "model.tokens_per_frame=4", "model.frame_width=2", "model.window_frames=3", "model.text_tokens=32",
            "model.grid_positions=false", "model.bidirectional_prefix=false"]
TINY_LM_RUN = [*LM_MODEL, "train.data={root}/shards", "train.val_data=null", "train.text_tokenizer={root}/text",
               "train.steps=1", "train.batch_size=2", "train.compile=false", "train.max_minutes=0.5",
               "train.out_dir={out}/run"]

# Commands that read a video, with {bad} where the video goes.
VIDEO_READERS = {
    "tokenize": ["tokenize", "{bad}", "-o", "{out}/codes.npy", "--tokenizer", "{tok}"],
    "eval-tokenizer": ["eval-tokenizer", "--videos", "{bad}", "--shapes-videos", "0", "--tokenizer", "{tok}",
                       "--out", "{out}/eval"],
    "eval-video": ["eval-video", "{bad}", "--prompt", PROMPT, "-o", "{out}/eval"],
    "generate --continue": ["generate", PROMPT, "--model", "{model}", "--continue", "{bad}", "-o", "{out}/out.gif"],
    "train-tokenizer train.data": ["train-tokenizer", "--config", "tiny", *TINY_TOKENIZER_RUN,
                                   "train.data={bad}", "train.val_data=null"],
}
# Kinds a clip source finds when it opens the data (a header it can read); the others fail at the first draw.
PROBED_KINDS = ("missing", "empty", "text", "dangling", "folder", "header only", "bit-flipped", "audio only")
MODEL_READERS = {
    "generate": ["generate", PROMPT, "--model", "{bad}", "-o", "{out}/out.gif"],
    "eval-video": ["eval-video", "--prompt", PROMPT, "--frames", "2", "--model", "{bad}", "-o", "{out}/eval"],
    "export-hf": ["export-hf", "--model", "{bad}", "-o", "{out}/hf"],
}
TOKENIZER_READERS = {
    "tokenize": ["tokenize", "{clip}", "-o", "{out}/codes.npy", "--tokenizer", "{bad}"],
    "detokenize": ["detokenize", "{root}/codes/whole.npy", "-o", "{out}/out.gif", "--tokenizer", "{bad}"],
    "decode": ["decode", "{root}/streams/whole.ndjson", "-o", "{out}/out.gif", "--tokenizer", "{bad}"],
    "eval-tokenizer": ["eval-tokenizer", "--videos", "{clip}", "--shapes-videos", "0", "--tokenizer", "{bad}",
                       "--out", "{out}/eval"],
    "tokenize-dataset": ["tokenize-dataset", "--videos", "1", "--frames", "5", "--tokenizer", "{bad}",
                         "-o", "{out}/shards"],
}
MANIFEST_READERS = {
    "tokenize-dataset": ["tokenize-dataset", "--manifest", "{bad}", "--frames", "5", "--tokenizer", "{tok}",
                         "-o", "{out}/shards"],
    "train-text-tokenizer": ["train-text-tokenizer", "--manifest", "{bad}", "-o", "{out}/text"],
}
CONFIG_READERS = {
    "train-tokenizer": ["train-tokenizer", "--config", "{bad}", "train.out_dir={out}/run"],
    "train-lm": ["train-lm", "--config", "{bad}", "train.out_dir={out}/run"],
}

# Bad option values: (command, what is wrong, arguments). No file is to blame; the message names the option.
OPTIONS = [
    ("tokenize", "--max-frames 0", ["tokenize", "{clip}", "-o", "{out}/c.npy", "--tokenizer", "{tok}",
                                    "--max-frames", "0"]),
    ("tokenize", "--max-frames -3", ["tokenize", "{clip}", "-o", "{out}/c.npy", "--tokenizer", "{tok}",
                                     "--max-frames", "-3"]),
    ("tokenize", "--fps 0", ["tokenize", "{clip}", "-o", "{out}/c.npy", "--tokenizer", "{tok}", "--fps", "0"]),
    ("tokenize", "--fps -8", ["tokenize", "{clip}", "-o", "{out}/c.npy", "--tokenizer", "{tok}", "--fps", "-8"]),
    ("tokenize", "--fps nan", ["tokenize", "{clip}", "-o", "{out}/c.npy", "--tokenizer", "{tok}", "--fps", "nan"]),
    ("tokenize", "--fps inf", ["tokenize", "{clip}", "-o", "{out}/c.npy", "--tokenizer", "{tok}", "--fps", "inf"]),
    ("tokenize", "--size 60", ["tokenize", "{clip}", "-o", "{out}/c.npy", "--tokenizer", "{tok}", "--size", "60"]),
    ("tokenize", "--size 0", ["tokenize", "{clip}", "-o", "{out}/c.npy", "--tokenizer", "{tok}", "--size", "0"]),
    ("tokenize", "--size 32x", ["tokenize", "{clip}", "-o", "{out}/c.npy", "--tokenizer", "{tok}", "--size", "32x"]),
    ("tokenize", "--size big", ["tokenize", "{clip}", "-o", "{out}/c.npy", "--tokenizer", "{tok}", "--size", "big"]),
    ("tokenize", "-o unwritable", ["tokenize", "{clip}", "-o", f"{FORBIDDEN}.npy", "--tokenizer", "{tok}"]),
    ("tokenize", "-o a folder", ["tokenize", "{clip}", "-o", "{root}/codes/folder.npy", "--tokenizer", "{tok}"]),
    ("detokenize", "--fps 0", ["detokenize", "{root}/codes/whole.npy", "-o", "{out}/v.gif", "--tokenizer", "{tok}",
                               "--fps", "0"]),
    ("detokenize", "--fps -1", ["detokenize", "{root}/codes/whole.npy", "-o", "{out}/v.gif", "--tokenizer", "{tok}",
                                "--fps", "-1"]),
    ("detokenize", "--fps inf", ["detokenize", "{root}/codes/whole.npy", "-o", "{out}/v.gif", "--tokenizer", "{tok}",
                                 "--fps", "inf"]),
    ("detokenize", "--fps 0.0001", ["detokenize", "{root}/codes/whole.npy", "-o", "{out}/v.mp4", "--tokenizer", "{tok}",
                                    "--fps", "0.0001"]),  # the writer's rate rounded to 0 frames a second
    ("detokenize", "--fps 1e10", ["detokenize", "{root}/codes/whole.npy", "-o", "{out}/v.mp4", "--tokenizer", "{tok}",
                                  "--fps", "1e10"]),  # past PyAV's integer time base
    ("detokenize", "-o unwritable", ["detokenize", "{root}/codes/whole.npy", "-o", f"{FORBIDDEN}.mp4",
                                     "--tokenizer", "{tok}"]),
    ("decode", "--fps 0", ["decode", "{root}/streams/whole.ndjson", "-o", "{out}/v.gif", "--tokenizer", "{tok}",
                           "--fps", "0"]),
    ("decode", "--fps -2", ["decode", "{root}/streams/whole.ndjson", "-o", "{out}/v.gif", "--tokenizer", "{tok}",
                            "--fps", "-2"]),
    ("decode", "--fps inf", ["decode", "{root}/streams/whole.ndjson", "-o", "{out}/v.gif", "--tokenizer", "{tok}",
                             "--fps", "inf"]),
    ("decode", "-o unwritable", ["decode", "{root}/streams/whole.ndjson", "-o", f"{FORBIDDEN}.mp4",
                                 "--tokenizer", "{tok}"]),
    ("generate", "--frames -1", ["generate", PROMPT, "--model", "{model}", "--frames", "-1", "-o", "{out}/v.gif"]),
    ("generate", "--fps 0", ["generate", PROMPT, "--model", "{model}", "--fps", "0", "-o", "{out}/v.gif"]),
    ("generate", "--fps 0.0001", ["generate", PROMPT, "--model", "{model}", "--fps", "0.0001", "-o", "{out}/v.gif"]),
    ("generate", "--fps inf", ["generate", PROMPT, "--model", "{model}", "--fps", "inf", "-o", "{out}/v.gif"]),
    ("generate", "--cfg -1", ["generate", PROMPT, "--model", "{model}", "--cfg", "-1", "-o", "{out}/v.gif"]),
    ("generate", "--temperature -1", ["generate", PROMPT, "--model", "{model}", "--temperature", "-1",
                                      "-o", "{out}/v.gif"]),
    ("generate", "--top-k -5", ["generate", PROMPT, "--model", "{model}", "--top-k", "-5", "-o", "{out}/v.gif"]),
    ("generate", "--top-p 0", ["generate", PROMPT, "--model", "{model}", "--top-p", "0", "-o", "{out}/v.gif"]),
    ("generate", "--top-p 1.5", ["generate", PROMPT, "--model", "{model}", "--top-p", "1.5", "-o", "{out}/v.gif"]),
    ("generate", "--window 0", ["generate", PROMPT, "--model", "{model}", "--window", "0", "-o", "{out}/v.gif"]),
    ("generate", "--window 99", ["generate", PROMPT, "--model", "{model}", "--window", "99", "-o", "{out}/v.gif"]),
    ("generate", "--first-window-candidates 0", ["generate", PROMPT, "--model", "{model}",
                                                 "--first-window-candidates", "0", "-o", "{out}/v.gif"]),
    ("generate", "--first-window-selector banana", ["generate", PROMPT, "--model", "{model}",
                                                    "--first-window-selector", "banana", "-o", "{out}/v.gif"]),
    ("generate", "no output", ["generate", PROMPT, "--model", "{model}"]),
    ("generate", "-o unwritable", ["generate", PROMPT, "--model", "{model}", "-o", f"{FORBIDDEN}.mp4"]),
    ("generate", "-o .avi", ["generate", PROMPT, "--model", "{model}", "-o", "{out}/v.avi"]),
    ("generate", "--tokens-out unwritable", ["generate", PROMPT, "--model", "{model}",
                                             "--tokens-out", f"{FORBIDDEN}.ndjson"]),
    ("generate", "prompt too long", ["generate", " ".join(["circle"] * 200), "--model", "{model}",
                                     "-o", "{out}/v.gif"]),
    ("eval-video", "--frames 1", ["eval-video", "--prompt", PROMPT, "--frames", "1", "--model", "{model}",
                                  "-o", "{out}/e"]),
    ("eval-video", "--seed -1", ["eval-video", "--prompt", PROMPT, "--seed", "-1", "--model", "{model}",
                                 "-o", "{out}/eval"]),
    ("eval-video", "--limit 0", ["eval-video", "--prompt-set", "all", "--limit", "0", "--model", "{model}",
                                 "-o", "{out}/e"]),
    ("eval-video", "--threads 0", ["eval-video", "--prompt", PROMPT, "--threads", "0", "--model", "{model}",
                                   "-o", "{out}/e"]),
    ("eval-video", "--per-combination 0", ["eval-video", "--prompt-set", "all", "--per-combination", "0",
                                           "--model", "{model}", "-o", "{out}/e"]),
    ("eval-video", "-o unwritable", ["eval-video", "{clip}", "--prompt", PROMPT, "-o", FORBIDDEN]),
    ("eval-video", "-o a file", ["eval-video", "{clip}", "--prompt", PROMPT, "-o", "{root}/a_file.txt"]),
    ("eval-video", "--prompts binary", ["eval-video", "{clip}", "--prompts", "{root}/codes/whole.npy",
                                        "-o", "{out}/e"]),
    ("eval-video", "--prompts missing", ["eval-video", "{clip}", "--prompts", "{root}/missing.txt", "-o", "{out}/e"]),
    ("eval-video", "--prompts empty", ["eval-video", "{clip}", "--prompts", "{root}/videos/empty.mp4",
                                       "-o", "{out}/e"]),
    ("eval-video", "--i3d missing", ["eval-video", "{clip}", "--prompt", PROMPT, "--i3d", "{root}/none.pt",
                                     "-o", "{out}/e"]),
    ("eval-tokenizer", "--shapes-videos -1", ["eval-tokenizer", "--shapes-videos", "-1", "--tokenizer", "{tok}",
                                              "--videos", "{clip}", "--out", "{out}/e"]),
    ("eval-tokenizer", "--frames 0", ["eval-tokenizer", "--frames", "0", "--tokenizer", "{tok}", "--videos", "{clip}",
                                      "--out", "{out}/e"]),
    ("eval-tokenizer", "--frames 4", ["eval-tokenizer", "--frames", "4", "--tokenizer", "{tok}", "--videos", "{clip}",
                                      "--out", "{out}/e"]),
    ("eval-tokenizer", "--real-frames 0", ["eval-tokenizer", "--real-frames", "0", "--tokenizer", "{tok}",
                                           "--videos", "{clip}", "--out", "{out}/e"]),
    ("eval-tokenizer", "--out unwritable", ["eval-tokenizer", "--tokenizer", "{tok}", "--videos", "{clip}",
                                            "--shapes-videos", "0", "--out", FORBIDDEN]),
    ("eval-tokenizer", "--out a file", ["eval-tokenizer", "--tokenizer", "{tok}", "--videos", "{clip}",
                                        "--shapes-videos", "0", "--out", "{root}/a_file.txt"]),
    ("eval-tokenizer", "--sizes 64 60", ["eval-tokenizer", "--tokenizer", "{tok}", "--videos", "{clip}",
                                         "--shapes-videos", "0", "--sizes", "64", "60", "--out", "{out}/e"]),
    ("eval-tokenizer", "--sizes 32x-8", ["eval-tokenizer", "--tokenizer", "{tok}", "--videos", "{clip}",
                                         "--shapes-videos", "0", "--sizes", "32x-8", "--out", "{out}/e"]),
    ("eval-tokenizer", "--sizes none", ["eval-tokenizer", "--tokenizer", "{tok}", "--videos", "{clip}",
                                        "--shapes-videos", "0", "--sizes", "--out", "{out}/e"]),
    ("eval-tokenizer", "--videos none", ["eval-tokenizer", "--tokenizer", "{tok}", "--videos", "--shapes-videos",
                                         "0", "--out", "{out}/e"]),
    ("tokenize-dataset", "--videos 0", ["tokenize-dataset", "--videos", "0", "--frames", "5", "--tokenizer", "{tok}",
                                        "-o", "{out}/s"]),
    ("tokenize-dataset", "--frames 12", ["tokenize-dataset", "--videos", "1", "--frames", "12",
                                         "--tokenizer", "{tok}", "-o", "{out}/s"]),
    ("tokenize-dataset", "--frames 0", ["tokenize-dataset", "--videos", "1", "--frames", "0", "--tokenizer", "{tok}",
                                        "-o", "{out}/s"]),
    ("tokenize-dataset", "--anywhere 1.5", ["tokenize-dataset", "--videos", "1", "--frames", "5", "--anywhere", "1.5",
                                            "--tokenizer", "{tok}", "-o", "{out}/s"]),
    ("tokenize-dataset", "--batch-size 0", ["tokenize-dataset", "--videos", "1", "--frames", "5",
                                            "--batch-size", "0", "--tokenizer", "{tok}", "-o", "{out}/s"]),
    ("tokenize-dataset", "--precision fp8", ["tokenize-dataset", "--videos", "1", "--frames", "5",
                                             "--precision", "fp8", "--tokenizer", "{tok}", "-o", "{out}/s"]),
    ("tokenize-dataset", "-o unwritable", ["tokenize-dataset", "--videos", "1", "--frames", "5",
                                           "--tokenizer", "{tok}", "-o", FORBIDDEN]),
    ("tokenize-dataset", "-o a file", ["tokenize-dataset", "--videos", "1", "--frames", "5", "--tokenizer", "{tok}",
                                       "-o", "{root}/a_file.txt"]),
    ("train-text-tokenizer", "--vocab-size 0", ["train-text-tokenizer", "--vocab-size", "0", "-o", "{out}/t"]),
    ("train-text-tokenizer", "--vocab-size -4", ["train-text-tokenizer", "--vocab-size", "-4", "-o", "{out}/t"]),
    ("train-text-tokenizer", "-o unwritable", ["train-text-tokenizer", "-o", FORBIDDEN]),
    ("train-text-tokenizer", "-o a file", ["train-text-tokenizer", "-o", "{root}/a_file.txt"]),
    ("export-hf", "-o unwritable", ["export-hf", "--model", "{model}", "-o", FORBIDDEN]),
    ("export-hf", "-o a file", ["export-hf", "--model", "{model}", "-o", "{root}/a_file.txt"]),
]
for _command, _argv in (("tokenize", ["tokenize", "{clip}", "-o", "{out}/c.npy", "--tokenizer", "{tok}"]),
                        ("detokenize", ["detokenize", "{root}/codes/whole.npy", "-o", "{out}/v.gif",
                                        "--tokenizer", "{tok}"]),
                        ("decode", ["decode", "{root}/streams/whole.ndjson", "-o", "{out}/v.gif",
                                    "--tokenizer", "{tok}"]),
                        ("generate", ["generate", PROMPT, "--model", "{model}", "-o", "{out}/v.gif"]),
                        ("eval-video", ["eval-video", "--prompt", PROMPT, "--model", "{model}", "-o", "{out}/e"]),
                        ("eval-tokenizer", ["eval-tokenizer", "--tokenizer", "{tok}", "--videos", "{clip}",
                                            "--out", "{out}/e"]),
                        ("tokenize-dataset", ["tokenize-dataset", "--videos", "1", "--frames", "5",
                                              "--tokenizer", "{tok}", "-o", "{out}/s"])):
    OPTIONS.append((_command, "--device banana", [*_argv, "--device", "banana"]))
    OPTIONS.append((_command, "--device cuda:9", [*_argv, "--device", "cuda:9"]))
TRAIN_OVERRIDES = {
    "train-tokenizer": ["train-tokenizer", "--config", "tiny", *TINY_TOKENIZER_RUN],
    "train-lm": ["train-lm", "--config", "tiny", *TINY_LM_RUN],
}
for _command, _argv in TRAIN_OVERRIDES.items():
    for _what, _override in (("unknown key", "train.stepz=3"), ("unknown section", "trian.steps=3"),
                             ("no =", "train.steps"), ("wrong type", "train.steps=many"),
                             ("steps 0", "train.steps=0"), ("steps -5", "train.steps=-5"),
                             ("batch_size 0", "train.batch_size=0"), ("lr as a list", "train.lr=[1]"),
                             ("precision fp8", "train.precision=fp8"), ("device banana", "train.device=banana"),
                             ("device cuda:9", "train.device=cuda:9"), ("out_dir unwritable", f"train.out_dir={FORBIDDEN}"),
                             ("out_dir a file", "train.out_dir={root}/a_file.txt"), ("data missing", "train.data={root}/none"),
                             ("model.dim -8" if _command == "train-lm" else "model.channels -8",
                              "model.dim=-8" if _command == "train-lm" else "model.channels=-8")):
        OPTIONS.append((_command, _what, [*_argv, _override]))
    OPTIONS.append((_command, "--resume without a checkpoint", [*_argv, "--resume"]))
OPTIONS.append(("train-lm", "text_tokenizer corrupt", [*TRAIN_OVERRIDES["train-lm"],
                                                       "train.text_tokenizer={root}/models/text_tokenizer_corrupt/lm"]))
OPTIONS.append(("train-lm", "data a file", [*TRAIN_OVERRIDES["train-lm"], "train.data={clip}"]))
OPTIONS.append(("train-lm", "data of another grid", [*TRAIN_OVERRIDES["train-lm"], "model.tokens_per_frame=16",
                                                     "model.frame_width=4"]))


# Cases that fail today in files outside this contract's fixes; strict, so a fix shows as XPASS and the entry goes.
KNOWN_FAILURES = {
}


def _cases():
    """(id, command, argv template, family, kind) for the whole matrix."""
    cases = []

    def add(command, family, kind, argv):
        known = KNOWN_FAILURES.get((command, family, kind))
        marks = [pytest.mark.xfail(strict=True, reason=known)] if known else []
        cases.append(pytest.param(command, argv, family, kind, id=f"{command} | {family}: {kind}", marks=marks))

    video_kinds = ("missing", "empty", "text", "truncated", "header only", "bit-flipped", "audio only", "dangling",
                   "folder", "truncated gif")
    for command, argv in VIDEO_READERS.items():
        for kind in video_kinds:
            if command.startswith("train-tokenizer") and kind not in PROBED_KINDS:
                continue
            add(command, "video", kind, argv)
    for kind in ("missing", "empty", "text", "truncated", "header only", "bit-flipped", "audio only", "dangling",
                 "folder"):
        add("generate --image", "image", kind,
            ["generate", PROMPT, "--model", "{model}", "--image", "{bad}", "-o", "{out}/out.gif"])
    for kind in ("missing", "empty", "text", "truncated", "header only", "bit-flipped", "dangling", "folder", "2-D",
                 "4-D", "float", "bool", "complex", "pickled objects", "out of range", "negative", "huge values",
                 "no frames", "empty grid"):
        add("detokenize", "codes", kind, ["detokenize", "{bad}", "-o", "{out}/out.gif", "--tokenizer", "{tok}"])
    for kind in ("no frames of 8x8",):  # the shipped tokenizer
        add("detokenize", "codes", kind, ["detokenize", "{bad}", "-o", "{out}/out.gif"])
    for kind in ("missing", "empty", "text", "dangling", "folder", *STREAM_LINES):
        add("decode", "stream", kind, ["decode", "{bad}", "-o", "{out}/out.gif", "--tokenizer", "{tok}"])
    for command, argv in MODEL_READERS.items():
        for kind in ("missing", "a file", "empty folder", "dangling symlink", "no lm", "lm config text",
                     "lm config empty", "lm config binary", "lm config folder", "lm is a tokenizer",
                     "lm weights missing", "lm weights text", "lm weights of another size",
                     "lm weights missing a tensor", "text tokenizer corrupt", "text tokenizer missing",
                     "generation config corrupt", "generation config wrong value", "no tokenizer",
                     "tokenizer config text", "tokenizer weights bit-flipped header", "tokenizer of another codebook",
                     "shipped lm weights truncated", "shipped lm weights bit-flipped header",
                     "shipped tokenizer weights truncated"):
            if command == "export-hf" and kind in TOKENIZER_DAMAGE + ("generation config corrupt",
                                                                   "generation config wrong value"):
                continue  # export-hf reads only lm/ and does not sample
            add(command, "model", kind, argv)
    for command, argv in TOKENIZER_READERS.items():
        for kind in ("missing", "a file", "empty folder", "dangling symlink", "tokenizer config text",
                     "tokenizer weights bit-flipped header", "shipped tokenizer weights truncated", "an lm"):
            add(command, "tokenizer", kind, argv)
    for command, argv in MANIFEST_READERS.items():
        for kind in ("missing", "empty", "text", "dangling", "folder", "bit-flipped", "truncated line",
                     "malformed line", "no caption", "not an object", "listed video: missing",
                     *(f"listed video: {video}" for video in LISTED_VIDEOS)):
            if command == "train-text-tokenizer" and kind.startswith("listed video: ") and not kind.endswith("missing"):
                continue  # it reads captions, not videos
            add(command, "manifest", kind, argv)
    for command, argv in CONFIG_READERS.items():
        for kind in ("missing", "empty", "text", "dangling", "folder", "truncated", "bit-flipped", "not a mapping",
                     "unknown key", "wrong type", "section not a mapping"):
            add(command, "config", kind, argv)
    for kind in ("another architecture", "weights truncated", "state corrupt", "state missing"):
        add("train-lm --resume", "checkpoint", kind,
            ["train-lm", "--config", "tiny", *TINY_LM_RUN, "train.out_dir={bad}", "--resume"])
    add("train-tokenizer --resume", "checkpoint", "tokenizer of another architecture",
        ["train-tokenizer", "--config", "tiny", *TINY_TOKENIZER_RUN, "train.out_dir={bad}", "--resume"])
    for command, what, argv in OPTIONS:
        add(command, "option", what, argv)
    return cases


TOKENIZER_DAMAGE = ("no tokenizer", "tokenizer config text", "tokenizer weights bit-flipped header",
                    "tokenizer of another codebook", "shipped tokenizer weights truncated")
CASES = _cases()
FILE_FAMILIES = ("video", "image", "codes", "stream", "model", "tokenizer", "manifest", "config", "checkpoint")


def kinds() -> set[tuple[str, str]]:
    return {(case.values[2], case.values[3]) for case in CASES}


def test_the_matrix_is_as_big_as_the_contract_says():
    """At least 25 kinds of bad input; every command that reads a file is in it."""
    file_kinds = {(family, kind) for family, kind in kinds() if family != "option"}
    options = sum(1 for case in CASES if case.values[2] == "option")
    print(f"{len(CASES)} cases: {len(CASES) - options} of {len(file_kinds)} kinds of bad file in "
          f"{len(FILE_FAMILIES)} families, {options} of bad option values")
    assert len({kind for _, kind in file_kinds}) >= 25
    commands = {case.values[1][0] for case in CASES}
    assert commands >= {"tokenize", "detokenize", "decode", "generate", "eval-video", "eval-tokenizer",
                        "tokenize-dataset", "train-tokenizer", "train-lm", "train-text-tokenizer", "export-hf"}


def _expected_name(family: str, kind: str, bad: Path) -> str | None:
    """What the message must contain for a file case: the bad file's name (or the damaged part's)."""
    if family == "model":
        return MODEL_NAMES.get(kind, bad.name)
    if family == "tokenizer":
        return {"a file": "whole.mp4", "tokenizer config text": "config.json",
                "tokenizer weights bit-flipped header": "model.safetensors",
                "shipped tokenizer weights truncated": "model.safetensors"}.get(kind, bad.name)
    if family == "manifest" and kind.startswith("listed video: "):
        return "gone.mp4" if kind.endswith("missing") else None  # the video's name, checked below
    if family == "checkpoint":
        return {"weights truncated": "model.safetensors", "state corrupt": "trainer_state.json",
                "state missing": "trainer_state.json"}.get(kind, "checkpoint")
    return bad.name


class TookTooLong(Exception):
    pass


def _too_long(signum, frame):
    raise TookTooLong("still running after 60 s")


@pytest.mark.parametrize("command, argv, family, kind", CASES)
def test_bad_input_is_one_line_and_exit_2(command, argv, family, kind, ws, tmp_path, capfd):
    root, model, files = ws
    bad = None
    if family in FILE_FAMILIES:
        bad = (files["resume"] if family == "checkpoint" else files[family])[kind]
    values = {"bad": bad, "out": tmp_path, "tok": model / "tokenizer", "model": model, "root": root,
              "clip": files["video"]["whole"]}
    if command == "train-tokenizer train.data":  # a clip source is a folder or a list of videos
        (tmp_path / "videos.txt").write_text(f"{bad}\n")
        values["bad"] = tmp_path / "videos.txt"
    args = [part.format(**values) for part in argv]
    capfd.readouterr()
    previous = signal.signal(signal.SIGALRM, _too_long)
    signal.alarm(60)  # a case that hangs (an endless loop on a bad value) fails rather than stalls the suite
    try:
        code = main(args)
    except SystemExit as exit_:  # argparse's own errors
        code = exit_.code
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    err = capfd.readouterr().err
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and "Traceback" not in err, f"exit {code}: {err}"
    assert len(lines) == 1 and lines[0].startswith("arvid: error: "), err
    if bad is not None:
        name = _expected_name(family, kind, bad)
        if name is None:  # a manifest listing a bad video: the video, and the manifest's line
            name = files["video"][kind.removeprefix("listed video: ")].name
            assert f"{bad.name}:1" in lines[0], lines[0]
        assert name in lines[0], f"{name!r} not named: {lines[0]}"
    if family == "stream" and kind in STREAM_LINES:
        assert f"{bad.name}:{STREAM_LINES[kind]}" in lines[0], lines[0]
    if family == "manifest" and kind in ("truncated line", "malformed line", "no caption", "not an object",
                                         "bit-flipped", "listed video: missing"):
        assert f"{bad.name}:2" in lines[0], lines[0]


def test_the_real_command_prints_one_line_too(ws):
    """One case end to end, as a user runs it: a new interpreter, nothing captured in-process (imports,
    warnings and library logs would show here)."""
    root, _, files = ws
    folder = files["model"]["shipped lm weights truncated"]
    result = subprocess.run([sys.executable, "-m", "arvid.tools.cli", "generate", PROMPT, "--model", str(folder),
                             "-o", str(root / "never.gif")], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2 and result.stderr.count("\n") == 1, result.stderr
    assert "model.safetensors' is not a valid safetensors file (truncated or corrupt)" in result.stderr
    assert not (root / "never.gif").exists()
