"""A few steps of tokenizer training on the shapes world: loss goes down, checkpoints resume."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from arvid.configs import load_config, preset_path
from arvid.tokenizer import VideoTokenizer
from arvid.tokenizer.grow import grow_decoder
from arvid.tokenizer import train as tokenizer_train
from arvid.tokenizer.train import TokenizerRunConfig
from arvid.tools.data_sources import clip_source
from arvid.training.loop import TrainingDiverged
from arvid.weights import SHIPPED_TOKENIZERS

SMALL = ["model.image_size=32", "model.channels=8", "model.norm_groups=4", "model.codebook_bits=6",
         "train.clip_frames=5", "train.batch_size=2", "train.eval_videos=2", "train.eval_frames=5",
         "train.warmup_steps=2", "train.max_minutes=null"]


def train_tokenizer(config, *, resume=False):
    """The trainer with the command line's clip sources (the preset names the shapes world)."""
    return tokenizer_train.train_tokenizer(config, resume=resume, open_clips=clip_source)


def small_run(tmp_path, *extra):
    return load_config(TokenizerRunConfig, preset_path("tokenizer/tiny"),
                       SMALL + [f"train.out_dir={tmp_path}/run", *extra])


def test_train_then_resume(tmp_path):
    folder = train_tokenizer(small_run(tmp_path, "train.steps=4", "train.checkpoint_every=2", "train.eval_every=4"))
    state = json.loads((folder / "trainer_state.json").read_text())
    assert state["step"] == 4
    assert (tmp_path / "run" / "samples" / "step_000004.png").is_file()
    first = VideoTokenizer.from_pretrained(folder)
    folder = train_tokenizer(small_run(tmp_path, "train.steps=6", "train.eval_every=100"), resume=True)
    assert json.loads((folder / "trainer_state.json").read_text())["step"] == 6
    resumed = VideoTokenizer.from_pretrained(folder)
    assert any(not torch.equal(a, b) for a, b in zip(first.state_dict().values(), resumed.state_dict().values()))


def test_a_resumed_run_ends_where_a_straight_one_does(tmp_path):
    """With the adversarial term, LeCAM's averages and a weight average all in play: 2 steps, a
    checkpoint, 2 more on resume give the weights of 4 steps straight, bit for bit."""
    extra = ["train.adversarial_weight=0.1", "train.adversarial_start_step=0", "train.ema_decay=0.5",
             "train.eval_every=100", "train.checkpoint_every=2", "train.micro_batch_size=1"]
    straight = train_tokenizer(small_run(tmp_path / "straight", "train.steps=4", *extra))
    train_tokenizer(small_run(tmp_path / "resumed", "train.steps=2", *extra))
    resumed = train_tokenizer(small_run(tmp_path / "resumed", "train.steps=4", *extra), resume=True)
    from safetensors.torch import load_file

    for file in ("model.safetensors", "discriminator.safetensors", "lecam.safetensors", "ema/model.safetensors"):
        want, got = load_file(straight / file), load_file(resumed / file)
        assert all(torch.equal(got[name], tensor) for name, tensor in want.items()), file


def test_resume_with_other_architecture_fails(tmp_path):
    train_tokenizer(small_run(tmp_path, "train.steps=1", "train.eval_every=100"))
    with pytest.raises(ValueError, match="another architecture"):
        train_tokenizer(small_run(tmp_path, "train.steps=2", "model.channels=16"), resume=True)


def test_training_step_fits_a_batch():
    """The model, losses and optimizer can fit: 30 steps on one fixed shapes batch cut its error."""
    import numpy as np

    from arvid.shapes.clips import ShapesClips
    from arvid.tokenizer import frames_to_video, losses

    config = small_run("/tmp/unused").model
    torch.manual_seed(0)
    model = VideoTokenizer(config)
    source = ShapesClips(frames=5, size=32)
    rng = np.random.default_rng(0)
    batch = torch.cat([frames_to_video(source.sample(rng)) for _ in range(2)])
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    errors = []
    for _ in range(30):
        out = model(batch)
        error = losses.reconstruction_loss(out.reconstruction, batch)
        loss = error + losses.quantizer_loss(out.quantized, entropy_weight=0.01)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        errors.append(error.item())
    assert min(errors[-5:]) < 0.5 * errors[0], errors


def test_edge_weight_charges_errors_on_outlines_more(tmp_path):
    from arvid.tokenizer import losses

    video = -torch.ones(1, 3, 2, 16, 16)
    video[..., 6:10, 6:10] = 1.0  # a square on a plain frame
    edges = losses.edge_map(video)
    assert edges.shape == (1, 1, 2, 16, 16)
    # Two pixels on each side of the outline; nothing on the plain background or deep inside.
    assert edges[0, 0, 0, 8, 4:12].tolist() == [1.0] * 8 and edges[0, 0, 0, 8, :4].sum() == 0
    assert edges[0, 0, 0, 0].sum() == 0 and losses.edge_map(torch.zeros(1, 3, 1, 8, 8)).sum() == 0
    plain = losses.reconstruction_loss(video + 0.1, video)
    assert torch.allclose(plain, torch.tensor(0.01))
    assert torch.equal(losses.reconstruction_loss(video + 0.1, video, edge_weight=0.0), plain)
    on_edge, off_edge = video.clone(), video.clone()
    on_edge[..., 6, 6] += 0.5
    off_edge[..., 1, 1] += 0.5
    weighted_on = losses.reconstruction_loss(on_edge, video, edge_weight=4.0)
    assert torch.allclose(weighted_on, 5 * losses.reconstruction_loss(on_edge, video))
    assert torch.allclose(losses.reconstruction_loss(off_edge, video, edge_weight=4.0),
                          losses.reconstruction_loss(off_edge, video))
    with pytest.raises(ValueError, match="edge_weight"):
        small_run(tmp_path, "train.edge_weight=-1")


def test_nan_loss_stops_and_keeps_last_checkpoint(tmp_path, monkeypatch):
    from arvid.tokenizer import losses

    train_tokenizer(small_run(tmp_path, "train.steps=2", "train.eval_every=100"))
    monkeypatch.setattr(losses, "reconstruction_loss", lambda *_, **__: torch.tensor(float("nan")))
    with pytest.raises(TrainingDiverged, match="at step 2"):
        train_tokenizer(small_run(tmp_path, "train.steps=4", "train.eval_every=100"), resume=True)
    assert json.loads((tmp_path / "run" / "checkpoint" / "trainer_state.json").read_text())["step"] == 2


def test_adversarial_training_runs_and_resumes(tmp_path):
    extra = ["train.adversarial_weight=0.1", "train.adversarial_start_step=1", "train.eval_every=100"]
    folder = train_tokenizer(small_run(tmp_path, "train.steps=2", *extra))
    assert (folder / "discriminator.safetensors").is_file()
    (folder / "lecam.safetensors").unlink()  # as checkpoints written before it was saved: its averages start at 0
    assert json.loads((train_tokenizer(small_run(tmp_path, "train.steps=3", *extra), resume=True)
                       / "trainer_state.json").read_text())["step"] == 3


def test_micro_batches_train_as_the_whole_batch(tmp_path):
    """`train.micro_batch_size` 3 of a batch of 4 (passes of 3 and 1 clips), with the adversarial term
    on: one step's gradients of the tokenizer and of the discriminator are the whole batch's to float32
    rounding (4e-5 and 2e-5 of their norms; the same step in float64 differs by 1e-16, so this is the
    convolutions' rounding at 3 rows against 4). Compared before Adam, which turns the rounding of
    near-zero gradients (a bias before a norm) into whole steps. A run's checkpoint keeps LeCAM's
    averages and a resumed run reads them."""
    import contextlib

    import numpy as np
    from safetensors.torch import load_file

    from arvid.shapes.clips import ShapesClips

    extra = ["train.batch_size=4", "train.adversarial_weight=0.1", "train.adversarial_start_step=0",
             "train.eval_every=100", "train.precision=fp32"]
    gradients, losses, passes = [], [], []
    for more in ([], ["train.micro_batch_size=3"]):
        torch.manual_seed(0)
        training = tokenizer_train.TokenizerTraining(small_run(tmp_path, *extra, *more), torch.device("cpu"),
                                                     ShapesClips(frames=5, size=32), [])
        seen = []
        training.model.register_forward_pre_hook(lambda module, args, seen=seen: seen.append(len(args[0])))
        losses.append(training.step(0, np.random.default_rng([0, 0]), contextlib.nullcontext()).loss)
        passes.append(seen)
        gradients.append([torch.cat([p.grad.flatten() for p in module.parameters()])
                          for module in (training.model, training.discriminator)])
    assert passes == [[4], [3, 1]]
    assert losses[1] == pytest.approx(losses[0], rel=1e-5)
    for whole, micro in zip(*gradients):
        assert whole.norm() > 0 and (micro - whole).norm() <= 1e-4 * whole.norm()

    folder = train_tokenizer(small_run(tmp_path, *extra, "train.micro_batch_size=3", "train.steps=2"))
    lecam = load_file(folder / "lecam.safetensors")
    assert lecam["ema_real"] != 0 and lecam["ema_fake"] != 0
    training = tokenizer_train.TokenizerTraining(small_run(tmp_path, *extra), torch.device("cpu"),
                                                 ShapesClips(frames=5, size=32), [], resumed=True)
    training.load(folder, json.loads((folder / "trainer_state.json").read_text()))
    assert training.lecam.ema_real == lecam["ema_real"] and training.lecam.ema_fake == lecam["ema_fake"]


def test_the_discriminator_judges_in_float32_inside_bf16_autocast(tmp_path):
    # Under bf16 autocast its losses turned NaN within four steps on natural footage (2026-12-05).
    from arvid.shapes.clips import ShapesClips

    config = small_run(tmp_path, "train.adversarial_weight=0.1")
    training = tokenizer_train.TokenizerTraining(config, torch.device("cpu"), ShapesClips(frames=5, size=32), [])
    video = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    with torch.autocast("cpu", dtype=torch.bfloat16):
        logits = training._judge(training.discriminator, video.bfloat16())
    assert logits.dtype == torch.float32
    assert torch.allclose(logits, training.discriminator(video.bfloat16().float()), atol=1e-6)


def test_perceptual_loss_needs_local_weights(tmp_path):
    from safetensors.torch import save_file

    from arvid.tokenizer.losses import PerceptualLoss, _VGG16

    with pytest.raises(FileNotFoundError, match="VGG16"):
        PerceptualLoss(tmp_path / "missing.safetensors")
    # torchvision's layout, random values: the loss must load it and be zero for equal inputs.
    tensors, index, in_ch = {}, 0, 3
    for item in _VGG16:
        if item == "M":
            index += 1
            continue
        tensors[f"features.{index}.weight"] = torch.randn(item, in_ch, 3, 3) * 0.05
        tensors[f"features.{index}.bias"] = torch.zeros(item)
        index, in_ch = index + 2, item
    save_file(tensors, str(tmp_path / "vgg.safetensors"))
    loss = PerceptualLoss(tmp_path / "vgg.safetensors")
    video = torch.rand(1, 3, 2, 32, 32) * 2 - 1
    assert loss(video, video).item() == pytest.approx(0.0, abs=1e-6)
    assert loss(video, -video).item() > 0


def test_trains_on_a_folder_of_videos(tmp_path):
    import numpy as np

    from arvid.shapes import world as shapes
    from arvid.data.video_writer import write_video

    videos = tmp_path / "videos"
    videos.mkdir()
    rng = np.random.default_rng(0)
    for index in range(2):
        clip = shapes.render(shapes.sample_attributes(rng, "train"), frames=12, seed=index, size=48)
        write_video(videos / f"clip{index}.mp4", clip.video, fps=8)
    folder = train_tokenizer(small_run(tmp_path, "train.steps=2", "train.eval_every=100", f"train.data={videos}"))
    assert json.loads((folder / "trainer_state.json").read_text())["step"] == 2
    with pytest.raises(FileNotFoundError, match="train.data=.*/none: video source .* does not exist"):
        train_tokenizer(small_run(tmp_path, "train.steps=1", f"train.data={tmp_path}/none"))
    one_file = small_run(tmp_path / "one", "train.steps=1", "train.eval_every=100", f"train.data={videos}/clip0.mp4")
    assert json.loads((train_tokenizer(one_file) / "trainer_state.json").read_text())["step"] == 1  # one video


class Recording:
    """A clip opener that records what it opens and finds nothing named "missing"."""

    def __init__(self):
        self.opened = []

    def __call__(self, name, *, frames, size, **reading):
        import numpy as np

        self.opened.append(name)
        if name == "missing":
            raise FileNotFoundError(f"video source {name!r} is neither a folder nor a manifest file")
        return type("Noise", (), {"sample": lambda _, rng: rng.integers(0, 256, (frames, size, size, 3), np.uint8)})()


def test_a_missing_source_fails_before_the_training_files_are_read_and_names_its_field(tmp_path):
    opener = Recording()
    with pytest.raises(FileNotFoundError, match="train.val_data=missing: .* \\(set train.val_data=FOLDER or a "
                                                "manifest, or train.val_data=null for no evaluation\\)"):
        tokenizer_train.train_tokenizer(small_run(tmp_path, "train.data=mine", "train.val_data=missing"),
                                        open_clips=opener)
    assert opener.opened == ["missing"]  # train.data was never opened
    opener = Recording()
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        tokenizer_train.train_tokenizer(small_run(tmp_path, "train.data=mine", f"train.init_from={tmp_path}/none"),
                                        open_clips=opener)
    assert opener.opened == []
    for field_name in ("train.clip_frames", "train.eval_frames"):  # the tiny tokenizer takes 1 + 4k frames
        opener = Recording()
        with pytest.raises(ValueError, match=f"{field_name}=16: expected 1 \\+ 4k frames"):
            tokenizer_train.train_tokenizer(small_run(tmp_path, "train.data=mine", f"{field_name}=16"), open_clips=opener)
        assert opener.opened == []


def test_your_footage_scored_on_the_presets_shapes_clips_is_said(tmp_path, capsys):
    """`--config tiny` scores on the shapes world unless told otherwise: a run on your own videos
    says so once its data has opened (its held-out PSNR would be the shapes world's); not when
    train.val_data is given, nor for a source that fails (one error line)."""
    from arvid.data.video_writer import write_video
    from arvid.tools.cli import main

    videos = tmp_path / "videos"
    videos.mkdir()
    write_video(videos / "clip.mp4", np.random.default_rng(0).integers(0, 256, (9, 16, 16, 3), np.uint8), fps=8)
    run = ["train-tokenizer", "--config", "tiny", "model.image_size=16", "model.channels=8", "model.norm_groups=4",
           "model.codebook_bits=6", "train.clip_frames=5", "train.batch_size=1", "train.steps=1", "train.eval_videos=1",
           "train.eval_frames=5", "train.compile=false", "train.threads=1", f"train.data={videos}"]
    said = "train.val_data=shapes:heldout (the preset's) scores this tokenizer on the synthetic shapes world"
    assert main([*run, f"train.out_dir={tmp_path / 'a'}"]) == 0 and said in capsys.readouterr().err
    assert main([*run, f"train.out_dir={tmp_path / 'b'}", f"train.val_data={videos}"]) == 0
    assert "synthetic shapes world" not in capsys.readouterr().err
    assert main([*run[:-1], f"train.data={tmp_path / 'none'}", f"train.out_dir={tmp_path / 'c'}"]) == 2
    assert "synthetic shapes world" not in capsys.readouterr().err


def test_init_from_takes_a_shipped_tokenizer_by_name():
    from arvid.tokenizer.grow import init_weights

    natural = VideoTokenizer.from_pretrained("natural")
    model = VideoTokenizer(natural.config)
    assert "natural_tokenizer" in init_weights(model, "natural")
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), natural.state_dict().values()))


def test_init_from_takes_weights_trained_on_other_crops(tmp_path):
    """The frame size is the training crops', not the architecture's: a fine-tune on larger crops starts
    from the same weights (grown too, where it asks for a deeper decoder); other changes are refused."""
    import dataclasses

    from arvid.tokenizer.grow import init_weights

    torch.manual_seed(0)
    small = VideoTokenizer(small_run(tmp_path).model)
    small.save_pretrained(tmp_path / "small")
    larger = VideoTokenizer(dataclasses.replace(small.config, image_size=64))
    assert "trained on 32x32 crops, now on 64x64" in init_weights(larger, tmp_path / "small")
    assert all(torch.equal(a, b) for a, b in zip(larger.state_dict().values(), small.state_dict().values()))
    deeper = VideoTokenizer(dataclasses.replace(small.config, image_size=64, decoder_res_blocks=3))
    assert "decoder grown from 2 to 3" in init_weights(deeper, tmp_path / "small")
    with pytest.raises(ValueError, match="another architecture: channels is 8 there and 16 here"):  # not image_size
        init_weights(VideoTokenizer(dataclasses.replace(small.config, image_size=64, channels=16)), tmp_path / "small")
    with pytest.raises(ValueError, match="decoder_res_blocks is 2 there and 1 here"):
        init_weights(VideoTokenizer(dataclasses.replace(small.config, decoder_res_blocks=1)), tmp_path / "small")
    from arvid.weights import default_model_dir

    with pytest.raises(ValueError, match="does not hold a tokenizer config"):  # an LM's folder
        init_weights(larger, default_model_dir("lm"))


@pytest.mark.parametrize("name", sorted(SHIPPED_TOKENIZERS))
def test_the_init_from_hint_names_each_shipped_tokenizers_architecture(name):
    """The preset and overrides an `init_from` error suggests describe the shipped folder exactly."""
    import shlex

    from arvid.configs import load_config, resolve_preset, to_dict
    from arvid.tokenizer.train import SHIPPED_ARCHITECTURES, TokenizerRunConfig

    _, preset, *overrides = shlex.split(SHIPPED_ARCHITECTURES[name])
    config = load_config(TokenizerRunConfig, resolve_preset(preset, "tokenizer"), overrides).model
    assert to_dict(config) == to_dict(VideoTokenizer.from_pretrained(name).config)


def test_weight_average_is_saved_and_resumed(tmp_path):
    """With `ema_decay`, the checkpoint holds the averaged tokenizer as its own loadable folder,
    and a resumed run goes on averaging from it rather than starting over."""
    extra = ["train.ema_decay=0.5", "train.ema_start_step=1", "train.eval_every=100"]
    folder = train_tokenizer(small_run(tmp_path, "train.steps=1", *extra))
    assert not (folder / "ema").exists()  # nothing averaged up to ema_start_step
    train_tokenizer(small_run(tmp_path, "train.steps=2", *extra), resume=True)  # averages step 2
    folder = train_tokenizer(small_run(tmp_path, "train.steps=3", *extra), resume=True)
    raw, averaged = VideoTokenizer.from_pretrained(folder), VideoTokenizer.from_pretrained(folder / "ema")
    # A restarted average would be a copy of the step-3 weights; a resumed one blends in step 2's.
    assert any(not torch.equal(a, b) for a, b in zip(raw.state_dict().values(), averaged.state_dict().values()))
    with pytest.raises(ValueError, match="ema_decay"):
        small_run(tmp_path, "train.ema_decay=1.5")


def test_decoder_phase_keeps_every_code(tmp_path):
    """`init_from` + `train_encoder: false`: the decoder changes, the encoder does not, so a video
    encodes to the very codes it had (token shards made before the phase stay valid)."""
    first = train_tokenizer(small_run(tmp_path, "train.steps=2", "train.eval_every=100"))
    before = VideoTokenizer.from_pretrained(first)
    phase = [f"train.init_from={first}", "train.train_encoder=false", "train.steps=3", "train.eval_every=100",
             f"train.out_dir={tmp_path}/decoder"]
    after = VideoTokenizer.from_pretrained(train_tokenizer(small_run(tmp_path, *phase)))
    assert all(torch.equal(a, b) for a, b in zip(before.encoder.state_dict().values(),
                                                after.encoder.state_dict().values()))
    assert any(not torch.equal(a, b) for a, b in zip(before.decoder.state_dict().values(),
                                                    after.decoder.state_dict().values()))
    video = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    assert torch.equal(before.encode(video), after.encode(video))
    with pytest.raises(ValueError, match="another architecture"):
        train_tokenizer(small_run(tmp_path, *phase, "model.channels=16", f"train.out_dir={tmp_path}/other"))


def test_decoder_grows_from_a_shallower_checkpoint(tmp_path):
    """A deeper `model.decoder_res_blocks` than `init_from`'s: the grown tokenizer decodes exactly
    as the checkpoint (new blocks start as identities) and keeps its codes; training then moves it."""
    first = train_tokenizer(small_run(tmp_path, "train.steps=2", "train.eval_every=100", "model.decoder_res_blocks=1"))
    before = VideoTokenizer.from_pretrained(first)
    grown = grow_decoder(before, 3)
    assert grown.config.decoder_res_blocks == 3 and len(grown.decoder.blocks) > len(before.decoder.blocks)
    video = torch.rand(1, 3, 5, 32, 32) * 2 - 1
    codes = before.encode(video)
    assert torch.equal(grown.encode(video), codes)
    torch.testing.assert_close(grown.decode(codes), before.decode(codes), rtol=0, atol=0)
    with pytest.raises(ValueError, match="already has 1"):
        grow_decoder(before, 1)

    phase = [f"train.init_from={first}", "train.train_encoder=false", "train.steps=2", "train.eval_every=100",
             "model.decoder_res_blocks=3", f"train.out_dir={tmp_path}/grown"]
    after = VideoTokenizer.from_pretrained(train_tokenizer(small_run(tmp_path, *phase)))
    assert after.config.decoder_res_blocks == 3
    assert torch.equal(after.encode(video), codes)
    assert not torch.equal(after.decode(codes), grown.decode(codes))
    # Only a deeper decoder is grown: any other change is still another architecture.
    with pytest.raises(ValueError, match="another architecture"):
        train_tokenizer(small_run(tmp_path, *phase, "model.channels=16", f"train.out_dir={tmp_path}/other"))


@pytest.mark.parametrize("frozen_encoder", [False, True], ids=["whole", "decoder-only"])
def test_compiled_objective_matches_eager(frozen_encoder):
    """`train.compile` changes how the step runs, not what it computes: the compiled objective gives
    the eager loss and gradients to float32 rounding (inductor reorders sums). Weights after a few
    AdamW steps are no test of this: Adam moves a weight by about lr whatever its gradient's size,
    so a rounding-sized gradient's sign decides a visible change."""
    import numpy as np

    from arvid.shapes.clips import ShapesClips
    from arvid.tokenizer import frames_to_video
    from arvid.tokenizer.train import step_objective

    config = small_run("/tmp/unused", "train.edge_weight=5")
    torch.manual_seed(0)
    model = VideoTokenizer(config.model).train()
    rng = np.random.default_rng(0)
    batch = torch.cat([frames_to_video(ShapesClips(frames=5, size=32).sample(rng)) for _ in range(2)])
    cfg = config.train
    results = []
    for objective in (step_objective(compile=False), step_objective(compile=True)):
        model.zero_grad(set_to_none=True)
        loss, _ = objective(model, batch, frozen_encoder=frozen_encoder, edge_weight=cfg.edge_weight,
                            entropy_weight=cfg.entropy_weight, commitment_weight=cfg.commitment_weight)
        loss.backward()
        results.append((loss.item(), {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}))
    (eager_loss, eager_grads), (compiled_loss, compiled_grads) = results
    assert compiled_loss == pytest.approx(eager_loss, rel=1e-5)
    assert eager_grads.keys() == compiled_grads.keys()
    assert any(name.startswith("encoder") for name in eager_grads) != frozen_encoder
    for name, grad in eager_grads.items():
        scale = grad.abs().max().item()
        assert torch.allclose(compiled_grads[name], grad, rtol=1e-3, atol=1e-4 * scale + 1e-9), name


def test_compiled_training_runs(tmp_path):
    """The trainer's `train.compile` path: the step goes through torch.compile and trains."""
    from torch._dynamo.utils import counters

    counters.clear()
    folder = train_tokenizer(small_run(tmp_path, "train.steps=2", "train.eval_every=100", "train.compile=true"))
    assert counters["stats"]["unique_graphs"] >= 1
    assert json.loads((folder / "trainer_state.json").read_text())["step"] == 2


def test_the_library_trainer_takes_its_clips_from_the_opener_it_is_given(tmp_path, monkeypatch):
    """`train_tokenizer` knows no data set by name: it opens `train.data` and `train.val_data` with
    its `open_clips` (folders of videos by default), and without `val_data` it evaluates nothing."""
    import numpy as np

    opened = []

    class Noise:
        def __init__(self, name, *, frames, size, **reading):  # reading: fps, cache, workers
            opened.append((name, frames, size))
            self.frames, self.size = frames, size

        def sample(self, rng):
            return rng.integers(0, 256, (self.frames, self.size, self.size, 3), dtype=np.uint8)

    config = small_run(tmp_path, "train.steps=2", "train.eval_every=1", "train.data=noise", "train.val_data=null")
    folder = tokenizer_train.train_tokenizer(config, open_clips=Noise)
    assert opened == [("noise", 5, 32)] and json.loads((folder / "trainer_state.json").read_text())["step"] == 2
    assert not (tmp_path / "run" / "eval.jsonl").exists() and not (tmp_path / "run" / "samples").exists()
    monkeypatch.chdir(tmp_path)  # not the repository root, whose shapes/ is a folder
    with pytest.raises(FileNotFoundError, match="'shapes:heldout' does not exist"):  # val_data first
        tokenizer_train.train_tokenizer(small_run(tmp_path, "train.steps=1"))
    with pytest.raises(ValueError, match="train.data is not set"):
        tokenizer_train.train_tokenizer(small_run(tmp_path, "train.data=null"), open_clips=Noise)


def test_the_evaluation_source_is_let_go_once_its_clips_are_drawn(tmp_path, monkeypatch):
    """The held-out source's decoded videos are not kept through training (a cache of up to
    train.cache_mb beside the training source's): only the clips drawn from it stay."""
    import gc
    import weakref

    sources = {}

    class Noise:
        def __init__(self, name, *, frames, size, **reading):
            sources[name] = weakref.ref(self)
            self.frames, self.size = frames, size

        def sample(self, rng):
            return rng.integers(0, 256, (self.frames, self.size, self.size, 3), dtype=np.uint8)

    alive_while_training = {}
    real_loop = tokenizer_train.train_loop

    def loop(*args, **kwargs):
        gc.collect()
        alive_while_training.update({name: ref() is not None for name, ref in sources.items()})
        return real_loop(*args, **kwargs)

    monkeypatch.setattr(tokenizer_train, "train_loop", loop)
    tokenizer_train.train_tokenizer(small_run(tmp_path, "train.steps=1", "train.data=mine", "train.val_data=held"),
                                    open_clips=Noise)
    assert alive_while_training == {"held": False, "mine": True}


def test_shapes_sources_by_name():
    """"shapes:heldout" is the held-out split the trainer's evaluation clips were always drawn from."""
    import numpy as np

    from arvid.shapes.clips import ShapesClips

    source = clip_source("shapes:heldout", frames=5, size=32)
    assert np.array_equal(source.sample(np.random.default_rng(10_000)),
                          ShapesClips(frames=5, size=32, split="heldout").sample(np.random.default_rng(10_000)))
    assert clip_source("shapes", frames=5, size=32).split == "train"
    with pytest.raises(ValueError, match="unknown shapes split 'test'"):
        clip_source("shapes:test", frames=5, size=32)


def _two_process_worker(rank: int, world: int, port: int, out: str, micro: str) -> None:
    import contextlib
    import os
    import pathlib

    from torch.distributed.algorithms.ddp_comm_hooks import default_hooks

    from arvid.shapes.clips import ShapesClips
    from arvid.training.distributed import OtherProcessFailed, any_rank, finish_distributed, init_distributed

    os.environ.update(RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(world), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    info = init_distributed(torch.device("cpu"))
    out = pathlib.Path(out)
    torch.manual_seed(0)
    training = tokenizer_train.TokenizerTraining(small_run(out, *TWO_PROCESS_RUN, micro), torch.device("cpu"),
                                                 ShapesClips(frames=5, size=32), [], info=info)
    # When the tokenizer's gradients are all-reduced: "pass" at each forward, "reduce" for each bucket.
    events = []
    training.model.register_forward_pre_hook(lambda module, args: events.append("pass"))

    def counting_hook(state, bucket):
        events.append("reduce")
        return default_hooks.allreduce_hook(None, bucket)

    training.trained_model.register_comm_hook(None, counting_hook)
    loss = training.step(0, None, contextlib.nullcontext()).loss
    gradients = [torch.cat([p.grad.flatten() for p in module.parameters()])
                 for module in (training.model, training.discriminator)]
    # A whole run too: the loop's collective check of the time budget, evaluation and checkpoints on
    # the first process.
    train_tokenizer(small_run(out / "run", *TWO_PROCESS_RUN, micro, "train.steps=2", "train.max_minutes=1000"))
    # Evaluation clips only the first process reads, missing: each process stops at once, neither waits.
    try:
        train_tokenizer(small_run(out / "missing", *TWO_PROCESS_RUN, f"train.val_data={out / 'nothing'}"))
        failed = None
    except (FileNotFoundError, OtherProcessFailed) as err:
        failed = type(err).__name__
    # A checkpoint the first process fails to write (a full disk): both stop, neither waits for the other.
    import arvid.training.loop

    if rank == 0:
        def full_disk(*args, **kwargs):
            raise OSError(28, "No space left on device")

        arvid.training.loop._save = full_disk
    try:
        train_tokenizer(small_run(out / "full", *TWO_PROCESS_RUN, "train.steps=2", "train.max_minutes=1000"))
        unwritten = None
    except (OSError, OtherProcessFailed) as err:
        unwritten = type(err).__name__
    torch.save({"loss": loss, "gradients": gradients, "lecam": training.lecam.state_dict(), "events": events,
                "unwritten": unwritten,
                "weights": training.model.state_dict(), "clips": len(training.batches.batch(0)), "failed": failed,
                # what the loop asks when one process's clock has passed the time budget
                "stop": (any_rank(rank == 0, info.device), any_rank(False, info.device))}, out / f"rank{rank}.pt")
    finish_distributed()
    os._exit(0)  # as the LM's two-process test: skip a teardown that may abort after the results are on disk


TWO_PROCESS_RUN = ["train.batch_size=4", "train.adversarial_weight=0.1", "train.adversarial_start_step=0",
                   "train.eval_every=2", "train.precision=fp32", "train.threads=1"]


@pytest.mark.parametrize("micro", ["train.micro_batch_size=null", "train.micro_batch_size=1"])
def test_two_processes_train_as_one(tmp_path, micro):
    """Under torchrun (two gloo processes, DDP) each process draws its 2 of the 4 clips one process
    would and the step's all-reduced gradients, of the tokenizer and of the discriminator, are one
    process's to float32 rounding, as are LeCAM's averages; a short run checkpoints once, from the
    first process (with passes of one clip too)."""
    import contextlib
    import socket

    import numpy as np
    import torch.multiprocessing as mp

    from arvid.shapes.clips import ShapesClips

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mp.spawn(_two_process_worker, args=(2, port, str(tmp_path), micro), nprocs=2, join=True)
    ranks = [torch.load(tmp_path / f"rank{rank}.pt") for rank in range(2)]
    torch.manual_seed(0)
    single = tokenizer_train.TokenizerTraining(small_run(tmp_path / "single", *TWO_PROCESS_RUN), torch.device("cpu"),
                                               ShapesClips(frames=5, size=32), [])
    loss = single.step(0, np.random.default_rng([0, 0]), contextlib.nullcontext()).loss
    expected = [torch.cat([p.grad.flatten() for p in module.parameters()])
                for module in (single.model, single.discriminator)]
    for rank in ranks:
        assert rank["clips"] == 2 and rank["stop"] == (True, False)
        # All-reduced once, after the last pass (DDP's no_sync before it): no "reduce" between passes.
        passes = rank["events"].count("pass")
        assert passes == (2 if micro.endswith("=1") else 1)
        assert "reduce" in rank["events"] and "reduce" not in rank["events"][:rank["events"].index("pass", passes - 1)]
        assert rank["loss"] == pytest.approx(loss, rel=1e-5)
        for got, want in zip(rank["gradients"], expected):
            assert (got - want).norm() <= 1e-4 * want.norm()
        for name, value in single.lecam.state_dict().items():
            assert torch.allclose(rank["lecam"][name], value, rtol=1e-5), name
    for name, tensor in ranks[0]["weights"].items():  # DDP keeps the processes' weights equal
        assert torch.equal(ranks[1]["weights"][name], tensor), name
    assert json.loads((tmp_path / "run" / "run" / "checkpoint" / "trainer_state.json").read_text())["step"] == 2
    assert [rank["failed"] for rank in ranks] == ["FileNotFoundError", "OtherProcessFailed"]
    assert [rank["unwritten"] for rank in ranks] == ["OSError", "OtherProcessFailed"]
