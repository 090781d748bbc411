"""LM training: the loss falls, resume is exact, and two processes (DDP or FSDP2) equal one."""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket

import numpy as np
import pytest
import torch
import torch.multiprocessing as mp
from lm_fixtures import CODEBOOK, GRID, shapes_text_tokenizer, tiny_config, write_caption_shards

from arvid.shapes.clips import shapes_videos
from arvid.data.shards import JoinedShards, TokenShards, open_shards, write_shards
from arvid.training.schedule import warmup_cosine
from arvid.lm.examples import WindowExamples
from arvid.training.distributed import finish_distributed
from arvid.lm.train import LMRunConfig, LMTrainConfig, evaluate_loss, train_lm


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("lmdata")
    write_caption_shards(root / "train", videos=24, seed=0)
    write_caption_shards(root / "val", videos=8, seed=1)
    shapes_text_tokenizer().save(root)
    return root


def run_config(root, out, **train) -> LMRunConfig:
    # float32: the DDP and resume tests compare weights to 1e-6, below bf16's rounding.
    values = dict(precision="fp32", data=str(root / "train"), val_data=str(root / "val"), text_tokenizer=str(root),
                  out_dir=str(out),
                  batch_size=8, steps=40, warmup_steps=5, lr=3e-3, eval_every=1000, checkpoint_every=1000,
                  threads=1)
    return LMRunConfig(model=tiny_config(), train=LMTrainConfig(**(values | train)))


def test_training_lowers_the_held_out_loss(data, tmp_path):
    config = run_config(data, tmp_path / "run")
    examples = WindowExamples(TokenShards(data / "val"), shapes_text_tokenizer(), config.model, caption_dropout=0)
    torch.manual_seed(config.train.seed)
    from arvid.lm.model import Transformer
    from arvid.training.distributed import DistInfo

    info = DistInfo(0, 1, torch.device("cpu"))
    before = evaluate_loss(Transformer(config.model), examples, config.train, info)
    result = train_lm(config)
    after = evaluate_loss(result.model, examples, config.train, info)
    assert after < 0.5 * before, (before, after)
    assert (tmp_path / "run" / "eval.jsonl").is_file()


def test_unseen_videos_loss_sits_beside_the_training_videos_loss(data, tmp_path):
    # The unseen shards carry the training prompts over codes that nothing predicts (uniform noise),
    # so the model cannot learn them: their loss must stay near log(16), far above the training one.
    records = [record for _, record in shapes_videos(8, frames=1, seed=5)]
    noise = np.random.default_rng(0).integers(0, CODEBOOK, size=(len(records), *GRID))
    write_shards(tmp_path / "unseen", zip(noise, records, strict=True), count=len(records), grid=GRID,
                 codebook_size=CODEBOOK, tokenizer_config={}, ends=False)
    train_lm(run_config(data, tmp_path / "run", unseen_data=str(tmp_path / "unseen"), eval_every=40))
    log = [json.loads(line) for line in (tmp_path / "run" / "eval.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log] == [40] and {"val_loss", "unseen_loss", "seen_loss"} <= set(log[0])
    assert log[0]["seen_loss"] < 0.5 * log[0]["unseen_loss"], log
    assert log[0]["unseen_loss"] > 0.8 * math.log(CODEBOOK), log


def test_resume_continues_exactly(data, tmp_path):
    straight = train_lm(run_config(data, tmp_path / "a", steps=8)).model.state_dict()
    train_lm(run_config(data, tmp_path / "b", steps=5, checkpoint_every=5))
    resumed = train_lm(run_config(data, tmp_path / "b", steps=8), resume=True).model.state_dict()
    for name, tensor in straight.items():
        assert torch.equal(resumed[name], tensor), name


def test_a_resume_refuses_another_text_tokenizer(data, tmp_path):
    """Its pieces would read other words, and the next checkpoint's copy would be replaced silently;
    the checkpoint's own copy resumes."""
    from arvid.lm.text import train_text_tokenizer

    out = tmp_path / "run"
    train_lm(run_config(data, out, steps=2, checkpoint_every=2))
    other = tmp_path / "other"
    train_text_tokenizer(["a red circle", "a blue square moving up"], vocab_size=40).save(other)
    with pytest.raises(ValueError, match="is not the text tokenizer this run was trained with"):
        train_lm(run_config(data, out, steps=3, text_tokenizer=str(other)), resume=True)
    assert train_lm(run_config(data, out, steps=3, text_tokenizer=str(out / "checkpoint")), resume=True).loss > 0


def test_compiled_training_matches_eager(data, tmp_path):
    """`train.compile` changes how the step runs, not what it computes: after 6 steps the weights
    agree with an eager run's to float32 rounding (inductor reorders sums)."""
    from torch._dynamo.utils import counters

    eager = train_lm(run_config(data, tmp_path / "eager", steps=6)).model.state_dict()
    counters.clear()
    compiled = train_lm(run_config(data, tmp_path / "compiled", steps=6, compile=True)).model.state_dict()
    assert counters["stats"]["unique_graphs"] >= 1  # the step did go through torch.compile
    for name, tensor in eager.items():
        assert torch.allclose(compiled[name], tensor, rtol=1e-4, atol=1e-5), name


def test_micro_batches_train_as_the_whole_batch(data, tmp_path):
    """`train.micro_batch_size` 3 of a batch of 8: passes of 3, 3 and 2 rows whose gradients add up to
    the whole batch's, so the weights, the loss and the held-out loss are a whole-batch run's to
    float32 rounding (the sums are added in another order)."""
    from arvid.lm.train import train_step

    whole = train_lm(run_config(data, tmp_path / "whole", steps=6, eval_every=3))
    micro = train_lm(run_config(data, tmp_path / "micro", steps=6, eval_every=3, micro_batch_size=3))
    for name, tensor in whole.model.state_dict().items():
        assert torch.allclose(micro.model.state_dict()[name], tensor, rtol=1e-4, atol=1e-5), name
    assert micro.loss == pytest.approx(whole.loss, rel=1e-5)
    scores = [[json.loads(line)["val_loss"] for line in (tmp_path / run / "eval.jsonl").read_text().splitlines()]
              for run in ("whole", "micro")]
    assert scores[1] == pytest.approx(scores[0], rel=1e-5) and len(scores[0]) == 2

    # The passes really are 3, 3 and 2 rows.
    config = run_config(data, tmp_path / "rows")
    examples = WindowExamples(TokenShards(data / "train"), shapes_text_tokenizer(), config.model, caption_dropout=0)
    batch = examples.batch(np.random.default_rng(0), 8)
    model = whole.model
    seen = []
    hook = model.register_forward_pre_hook(lambda module, args: seen.append(len(args[0])))
    optimizer = torch.optim.SGD(model.parameters(), lr=0.0)
    train_step(model, optimizer, batch, targets=int(batch.loss_mask[:, 1:].sum()), autocast=contextlib.nullcontext(),
               grad_clip=1.0, micro_batch_size=3)
    hook.remove()
    assert seen == [3, 3, 2]
    with pytest.raises(ValueError, match="micro_batch_size must be >= 1"):
        train_step(model, optimizer, batch, targets=1, autocast=contextlib.nullcontext(), grad_clip=1.0,
                   micro_batch_size=0)
    with pytest.raises(ValueError, match="micro_batch_size must be >= 1"):
        run_config(data, tmp_path / "zero", micro_batch_size=0)


def test_activation_checkpointing_trains_as_without(data, tmp_path):
    """`train.activation_checkpointing`: each block's forward runs again in the backward pass (twice a
    step), and the run ends with the weights of one without it, bit for bit."""
    from arvid.lm.model import Block

    plain = train_lm(run_config(data, tmp_path / "plain", steps=4, val_data=None))
    calls = []
    hook = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: calls.append(1) if isinstance(module, Block) else None)
    try:
        recomputed = train_lm(run_config(data, tmp_path / "recomputed", steps=4, activation_checkpointing=True,
                                         val_data=None))  # no evaluation: its forward passes keep nothing
    finally:
        hook.remove()
    assert len(calls) == 4 * 2 * plain.model.config.n_layers  # steps x (forward, again in backward) x blocks
    for name, tensor in plain.model.state_dict().items():  # the same operations on the same values
        assert torch.equal(recomputed.model.state_dict()[name], tensor), name


def test_a_batch_is_shared_equally_among_processes_or_refused():
    from arvid.training.distributed import DistInfo, rank_rows

    cpu = torch.device("cpu")
    assert [rank_rows(8, DistInfo(rank, 4, cpu)) for rank in (0, 3)] == [slice(0, 2), slice(6, 8)]
    with pytest.raises(ValueError, match=r"batch_size 5 is not divisible by the 2 processes \(set train.batch_size to a mul"):
        rank_rows(5, DistInfo(1, 2, cpu))


def test_resume_with_more_steps_stretches_the_schedule(data, tmp_path):
    """How the LM shipped before went on from 8,000 steps to 18,000: the resumed steps follow the longer
    schedule: at step 9 of 10 its rate is a third above the floor where the 6-step one would stay."""
    def last_lr(out):
        state = json.loads((out / "checkpoint" / "trainer_state.json").read_text())
        return state["step"], state["optimizer"]["param_groups"][0]["lr"]

    out, schedule = tmp_path / "run", dict(lr=3e-3, warmup_steps=2, min_lr_ratio=0.1)
    train_lm(run_config(data, out, steps=6, checkpoint_every=6, **schedule))
    step, lr = last_lr(out)
    assert step == 6 and lr == pytest.approx(warmup_cosine(5, total_steps=6, **schedule))
    result = train_lm(run_config(data, out, steps=10, checkpoint_every=10, **schedule), resume=True)
    assert np.isfinite(result.loss)
    step, lr = last_lr(out)
    assert step == 10 and lr == pytest.approx(warmup_cosine(9, total_steps=10, **schedule))


def test_joined_shard_folders_read_as_one_dataset(data, tmp_path):
    first, second = TokenShards(data / "train"), TokenShards(data / "val")
    joined = open_shards([data / "train", data / "val"])
    assert isinstance(joined, JoinedShards) and len(joined) == len(first) + len(second)
    assert joined.grid == first.grid and joined.records == first.records + second.records
    assert joined.meta["videos"] == len(joined) and joined.codebook_size == CODEBOOK and not joined.ends
    assert np.array_equal(joined[len(first) - 1], first[len(first) - 1])
    assert np.array_equal(joined[len(first)], second[0]) and np.array_equal(joined[-1], second[len(second) - 1])
    with pytest.raises(IndexError):
        joined[len(joined)]
    other = write_shards(tmp_path / "other", [(np.zeros((7, 2, 2), np.uint16), first.records[0])], count=1,
                         grid=(7, 2, 2), codebook_size=CODEBOOK, tokenizer_config={}, ends=False)
    with pytest.raises(ValueError, match="differ in 'grid'"):
        open_shards([data / "train", other])

    def at(name: str, fps: float, codes: str | None = None):  # one video of the first folder's kind, read at `fps`
        return write_shards(tmp_path / name, [(first[0], first.records[0])], count=1, grid=first.grid,
                            codebook_size=CODEBOOK, tokenizer_config=first.meta["tokenizer"], ends=first.ends, fps=fps,
                            tokenizer_codes=codes)

    with pytest.raises(ValueError, match="other encoder weights"):  # same design, other codes
        open_shards([at("one", 8.0, "a1"), at("other", 8.0, "b2")])
    with pytest.raises(ValueError, match="other encoder weights"):  # an unrecorded part first hides nothing
        open_shards([data / "train", tmp_path / "one", tmp_path / "other"])
    assert open_shards([data / "train", tmp_path / "one"]).tokenizer_codes == "a1"
    with pytest.raises(ValueError, match="encoded by another tokenizer's encoder"):
        train_lm(run_config(data, tmp_path / "codes", data=str(tmp_path / "one"), val_data=str(tmp_path / "other"),
                            steps=1))
    train_lm(run_config(data, tmp_path / "paced", data=str(tmp_path / "one"), val_data=None, steps=1))
    with pytest.raises(ValueError, match="learnt from videos of another frame rate or tokenizer encoder"):
        train_lm(run_config(data, tmp_path / "paced", data=str(at("faster", 24.0, "a1")), val_data=None, steps=2),
                 resume=True)

    with pytest.raises(ValueError, match=r"different frame rates \(8, 24 fps\)"):  # one LM learns one pace
        open_shards([at("eight", 8.0), at("twenty-four", 24.0)])
    assert first.fps is None and open_shards([data / "train", tmp_path / "eight"]).fps == 8.0  # unrecorded: any
    with pytest.raises(ValueError, match="evaluation shards .* were read at 24 fps, the training shards at 8"):
        train_lm(run_config(data, tmp_path / "paces", data=str(tmp_path / "eight"),
                            val_data=str(tmp_path / "twenty-four"), steps=1))
    # Held-out shards of another codebook (another tokenizer's, unrecorded): said as such, not as the
    # model's video_vocab_size that fits one set (which the training shards' message would say).
    wide = write_shards(tmp_path / "wide", [(first[0], first.records[0])], count=1, grid=first.grid,
                        codebook_size=2 * CODEBOOK, tokenizer_config={}, ends=first.ends)
    with pytest.raises(ValueError, match=f"evaluation shards .* hold codes of {2 * CODEBOOK} values, the training "
                                         f"shards of {CODEBOOK}: encode both with one tokenizer"):
        train_lm(run_config(data, tmp_path / "wide-run", val_data=str(wide), steps=1))
    # Training takes the list from the config (`train.data=[a,b]`).
    result = train_lm(run_config(data, tmp_path / "run", data=(str(data / "train"), str(data / "val")), steps=2))
    assert np.isfinite(result.loss)


def test_bad_data_is_named(data, tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing' does not exist: expected a token shard folder"):
        train_lm(run_config(data, tmp_path / "x", data=str(tmp_path / "nothing")))
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match="empty' is not a token shard folder: .* is missing"):
        train_lm(run_config(data, tmp_path / "x", data=str(tmp_path / "empty")))
    config = run_config(data, tmp_path / "x")
    config.model = tiny_config(window_frames=8)
    frames = TokenShards(data / "train").grid[0]
    with pytest.raises(ValueError, match=f"videos have {frames} latent frames; anchor \\+ window_frames=8 needs at "
                                         f"least 9 .tokenize longer videos, .* or train with model.window_frames={frames - 1}"):
        train_lm(config)
    config.model = tiny_config(grid_positions=True, frame_width=1)  # 4 x 1 cells; the shards hold 2 x 2
    with pytest.raises(ValueError, match="grid positions expect latent frames of 4x1 codes; the shards' in .* are 2x2"):
        train_lm(config)


def test_a_truncated_or_corrupt_shard_file_is_named(data, tmp_path):
    import shutil

    for name, damage in (("codes.npy", lambda raw: raw[:len(raw) // 2]), ("meta.json", lambda raw: raw[:5]),
                         ("videos.jsonl", lambda raw: b"{not json\n")):
        folder = tmp_path / name
        shutil.copytree(data / "val", folder)
        (folder / name).write_bytes(damage((folder / name).read_bytes()))
        with pytest.raises(ValueError, match=f"{name}' is truncated or corrupt .*arvid tokenize-dataset"):
            TokenShards(folder)


def test_code_levels_must_be_the_digits_of_the_shards_tokenizer(tmp_path):
    """16 codes from a 4-bit LFQ tokenizer are 4 binary digits, not two of 4 values."""
    records = [record for _, record in shapes_videos(2, frames=1, seed=5)]
    codes = np.zeros((len(records), *GRID), dtype=np.int64)
    lfq = {"quantizer": "lfq", "codebook_bits": 4, "fsq_levels": [8, 5, 5, 5]}
    shards = TokenShards(write_shards(tmp_path / "lfq", zip(codes, records, strict=True), count=len(records),
                                      grid=GRID, codebook_size=CODEBOOK, tokenizer_config=lfq, ends=False))
    text = shapes_text_tokenizer()
    with pytest.raises(ValueError, match=r"code_levels \[4, 4\] are not the digits of .*lfq's codes \[2, 2, 2, 2\]"):
        WindowExamples(shards, text, tiny_config(code_levels=(4, 4)))
    WindowExamples(shards, text, tiny_config(code_levels=(2, 2, 2, 2)))
    # Records as `tokenize-dataset` writes them (`to_dict`: only the field the quantizer reads), and as
    # older shards hold them (both fields): one tokenizer, one record, folders of both kinds join.
    from arvid.configs import to_dict
    from arvid.tokenizer import TokenizerConfig

    fsq = TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4, quantizer="fsq",
                          fsq_levels=(4, 4))
    written, older = to_dict(fsq), {**to_dict(fsq), "codebook_bits": 12}
    assert "codebook_bits" not in written
    folders = [TokenShards(write_shards(tmp_path / name, zip(codes, records, strict=True), count=len(records), grid=GRID,
                                        codebook_size=CODEBOOK, tokenizer_config=record, ends=False))
               for name, record in (("new", written), ("old", older))]
    WindowExamples(folders[0], text, tiny_config(code_levels=(4, 4)))
    assert len(open_shards([folders[1].path, folders[0].path])) == 2 * len(records)
    with pytest.raises(ValueError, match="differ in 'tokenizer'"):  # another quantizer is another tokenizer
        open_shards([folders[0].path, shards.path])


def _ddp_worker(rank: int, world: int, port: int, data: str, out: str, mode: str) -> None:
    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    import pathlib

    import arvid.lm.model
    from arvid.lm.model import Block

    mode, chunked = mode.removesuffix(CHUNKED), mode.endswith(CHUNKED)
    if chunked:
        arvid.lm.model.LOSS_CHUNK_LOGITS = 1  # the loss a position at a time, recomputed in the backward pass
    mode, checkpointed = mode.removesuffix(CHECKPOINTED), mode.endswith(CHECKPOINTED)
    mode, micro = mode.removesuffix(MICRO), mode.endswith(MICRO)
    passes = []  # each block's forward passes that keep gradients (training, and its recompute)
    hook = torch.nn.modules.module.register_module_forward_pre_hook(
        lambda module, args: passes.append(1) if isinstance(module, Block) and torch.is_grad_enabled() else None)
    result = train_lm(run_config(pathlib.Path(data), pathlib.Path(out), steps=6, parallel=mode,
                                 micro_batch_size=3 if micro else None, activation_checkpointing=checkpointed))
    hook.remove()
    state = {k: v.full_tensor() if hasattr(v, "full_tensor") else v for k, v in result.model.state_dict().items()}
    torch.save({"state": state, "loss": result.loss, "passes": len(passes)}, f"{out}/rank{rank}.pt")
    finish_distributed()
    # Skip interpreter teardown too: the results are on disk, and an abort in torch's C++ teardown
    # (2 runs in 85 before the barrier in finish_distributed) would fail this test over something
    # it does not test.
    os._exit(0)


CHUNKED = "-chunked-loss"
MICRO = "-micro-batches"
CHECKPOINTED = "-checkpointed"


@pytest.mark.parametrize("mode", ["ddp", "fsdp2", "fsdp2" + CHUNKED, "ddp" + MICRO, "fsdp2" + MICRO,
                                  "fsdp2" + MICRO + CHECKPOINTED])
def test_two_processes_equal_one(data, tmp_path, mode, monkeypatch):
    """Also with the loss in chunks recomputed in the backward pass (`summed_cross_entropy`), which
    under FSDP2 reads the output layer's weights again after the forward pass, and with each rank's 4
    rows in passes of 3 and 1 (DDP all-reduces in the last pass only, FSDP2 in each), under FSDP2
    with activation checkpointing too (its blocks gather their weights again to run again)."""
    if mode.endswith(CHUNKED):
        import arvid.lm.model

        monkeypatch.setattr(arvid.lm.model, "LOSS_CHUNK_LOGITS", 1)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    out = tmp_path / "ddp"
    out.mkdir()
    mp.spawn(_ddp_worker, args=(2, port, str(data), str(out), mode), nprocs=2, join=True)
    ranks = [torch.load(out / f"rank{rank}.pt") for rank in range(2)]
    single = train_lm(run_config(data, tmp_path / "single", steps=6))
    for name, tensor in single.model.state_dict().items():
        assert torch.equal(ranks[0]["state"][name], ranks[1]["state"][name]), name
        # All-reduce sums gradients in another order than one process does: float32 rounding only.
        assert torch.allclose(ranks[0]["state"][name], tensor, atol=1e-5, rtol=1e-4), name
    assert ranks[0]["loss"] == pytest.approx(single.loss, rel=1e-4)
    # 6 steps x passes a step (each rank's 4 rows whole, or in passes of 3 and 1) x 2 blocks, twice with recompute
    steps_passes = 6 * (2 if MICRO in mode else 1) * single.model.config.n_layers
    assert ranks[0]["passes"] == steps_passes * (2 if mode.endswith(CHECKPOINTED) else 1)
    assert np.isfinite(single.loss)


def test_examples_are_anchor_plus_a_window_of_consecutive_frames(data):
    config = tiny_config()
    shards = TokenShards(data / "train")
    examples = WindowExamples(shards, shapes_text_tokenizer(), config, caption_dropout=0.0)
    frame, prefix = config.tokens_per_frame, config.prefix_len
    starts = set()
    for seed in range(40):
        tokens, loss_mask = examples.example(np.random.default_rng(seed))
        video = examples.vocab.video_codes(tokens[prefix:]).view(-1, *shards.grid[1:]).numpy()
        assert len(video) == 1 + config.window_frames
        match = [i for i in range(len(shards)) if (shards[i][0] == video[0]).all()]
        codes = shards[match[0]]
        start = next(s for s in range(1, len(codes)) if (codes[s:s + config.window_frames] == video[1:]).all())
        starts.add(start)
        assert not loss_mask[:prefix].any() and loss_mask[prefix:prefix + frame].all()
        # The first window frame is a target only when it follows the anchor directly.
        assert bool(loss_mask[prefix + frame:prefix + 2 * frame].all()) == (start == 1)
        assert loss_mask[prefix + 2 * frame:].all()
    assert len(starts) > 1 and 1 in starts


def test_first_window_share_sets_how_often_the_plain_clip_is_drawn(data):
    config = tiny_config()
    shards = TokenShards(data / "train")
    frame, prefix = config.tokens_per_frame, config.prefix_len

    def first_window_rate(share):
        examples = WindowExamples(shards, shapes_text_tokenizer(), config, caption_dropout=0.0,
                                  first_window_share=share)
        rng = np.random.default_rng(0)
        # Only a first window keeps its first window frame as a target.
        return np.mean([bool(examples.example(rng).loss_mask[prefix + frame]) for _ in range(400)])

    assert first_window_rate(1.0) == 1.0
    assert first_window_rate(0.0) == 0.0
    assert abs(first_window_rate(0.5) - 0.5) < 0.08
    with pytest.raises(ValueError, match="first_window_share"):
        LMTrainConfig(first_window_share=1.5)


def test_context_noise_replaces_video_inputs_only_and_keeps_the_targets():
    from arvid.lm.examples import Batch
    from arvid.lm.train import token_loss_sum, with_context_noise
    from arvid.lm.vocabulary import Vocabulary

    vocab = Vocabulary(text_size=10, video_size=50)
    tokens = torch.cat([torch.randint(0, vocab.video_offset, (4, 20)),  # specials and text
                        torch.randint(vocab.video_offset, vocab.size, (4, 2000))], dim=1)
    batch = Batch(tokens, torch.ones_like(tokens, dtype=torch.bool))
    assert torch.equal(with_context_noise(batch, 0.0, vocab, np.random.default_rng(0)).inputs, tokens)
    noisy = with_context_noise(batch, 0.3, vocab, np.random.default_rng(0))
    assert torch.equal(noisy.tokens, tokens) and torch.equal(noisy.inputs[:, :20], tokens[:, :20])
    changed = (noisy.inputs[:, 20:] != tokens[:, 20:]).float().mean().item()
    assert changed == pytest.approx(0.3 * (1 - 1 / 50), abs=0.02)  # a replacement may draw the same code
    assert noisy.inputs.min() >= 0 and noisy.inputs[:, 20:].min() >= vocab.video_offset
    seen = []
    token_loss_sum(lambda inputs, text: seen.append(inputs) or torch.zeros(()), noisy,
                   loss=lambda model, inputs, targets, text: model(inputs, text))
    assert torch.equal(seen[0], noisy.inputs[:, :-1])


def test_training_with_context_noise_runs_and_bad_rates_are_refused(data, tmp_path):
    result = train_lm(run_config(data, tmp_path / "noisy", steps=5, context_noise=0.1))
    assert math.isfinite(result.loss)
    with pytest.raises(ValueError, match="context_noise"):
        LMTrainConfig(context_noise=1.0)


def test_captions_with_text_the_text_tokenizer_never_saw_are_said(tmp_path):
    """They train, every unknown part read as one and the same piece: the trainer says so once."""
    from arvid.data.shards import VideoRecord

    codes = np.zeros(GRID, dtype=np.int64)
    write_shards(tmp_path / "s", [(codes, VideoRecord(("a red circle",))), (codes, VideoRecord(("a red 自転車",)))],
                 count=2, grid=GRID, codebook_size=CODEBOOK, tokenizer_config={}, ends=False)
    said = []
    WindowExamples(TokenShards(tmp_path / "s"), shapes_text_tokenizer(), tiny_config(), log=said.append)
    assert len(said) == 1 and "1 of 2 captions hold text the text tokenizer never saw" in said[0] and "自転車" in said[0]


def test_shards_the_model_cannot_read_are_refused_saying_which_video_and_what_to_set(tmp_path):
    from arvid.data.shards import VideoRecord

    codes = np.zeros(GRID, dtype=np.int64)
    long_caption = " ".join(["red circle"] * 40)
    write_shards(tmp_path / "long", [(codes, VideoRecord(("a red circle",))), (codes, VideoRecord((long_caption,)))],
                 count=2, grid=GRID, codebook_size=CODEBOOK, tokenizer_config={}, ends=False)
    with pytest.raises(ValueError, match="video 1 \\('red circle red circle .*\\.\\.\\.'\\)'s caption is "
                                         "\\d+ text pieces long; the model reads text_tokens=32 \\(captions "
                                         "longer than that: 1, the longest \\d+ pieces\\): set model.text_tokens=\\d+"):
        WindowExamples(TokenShards(tmp_path / "long"), shapes_text_tokenizer(), tiny_config())
    write_shards(tmp_path / "wide", [(codes, VideoRecord(("a red circle",)))], count=1, grid=GRID,
                 codebook_size=CODEBOOK * 2, tokenizer_config={}, ends=False)
    with pytest.raises(ValueError, match=f"for these shards set model.video_vocab_size={CODEBOOK * 2}"):
        WindowExamples(TokenShards(tmp_path / "wide"), shapes_text_tokenizer(), tiny_config())
