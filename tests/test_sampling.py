"""The sampler: logits processing, the sliding-window invariant, seeds and conditioning modes; the
sampling defaults that live with the model (generation_config.json) and the named first-window selectors."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from lm_fixtures import shapes_text_tokenizer, tiny_config

from arvid.lm.checkpoint import VideoLM
from arvid.lm.model import Transformer
from arvid.sampling import SamplerConfig, WindowedContext, filter_logits, generate, guide, sample, stream
from arvid.sampling.first_window import FIRST_WINDOW_SELECTORS
from arvid.tokenizer import TokenizerConfig, VideoTokenizer
from arvid.weights import default_model_dir, shipped_model_dir

TOLERANCE = 1e-4  # float32, as the issue states
# The shipped model's sampling (weights/lm/generation_config.json): the command line's defaults before
# they moved there, with 1.2 after the first window since 2026-12-05 (docs/results/sampling.md).
SHIPPED_DEFAULTS = SamplerConfig(top_k=50, cfg_scale=2.0, temperature=1.2, first_window_temperature=0.5,
                                 first_window_candidates=4)
PROMPT = "a red circle moving left"


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    tokenizer = VideoTokenizer(TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4,
                                               codebook_bits=6)).eval()
    lm = VideoLM(Transformer(tiny_config(video_vocab_size=64, tokens_per_frame=16, window_frames=3)).eval(),
                 shapes_text_tokenizer())
    return lm, tokenizer


def test_top_k_and_top_p_keep_the_right_tokens():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert torch.isfinite(filter_logits(logits, top_k=2, top_p=None)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_k=None, top_p=0.8)).tolist() == [[True, True, False, False]]
    assert torch.isfinite(filter_logits(logits, top_k=None, top_p=0.81)).tolist() == [[True, True, True, False]]
    assert torch.isfinite(filter_logits(logits, top_k=None, top_p=0.1)).tolist() == [[True, False, False, False]]


def test_guidance_and_sampling():
    cond, uncond = torch.randn(1, 10), torch.randn(1, 10)
    assert torch.allclose(guide(cond, uncond, 1.0), cond, atol=1e-6)
    assert torch.allclose(guide(cond, uncond, 3.0), uncond + 3 * (cond - uncond))
    logits = torch.randn(3, 50)
    assert torch.equal(sample(logits, SamplerConfig(temperature=0), torch.Generator()), logits.argmax(-1))
    draws = [sample(logits, SamplerConfig(), torch.Generator().manual_seed(7)) for _ in range(2)]
    assert torch.equal(draws[0], draws[1])
    assert bool((sample(logits, SamplerConfig(top_k=1), torch.Generator()) == logits.argmax(-1)).all())
    with pytest.raises(ValueError, match="top_p"):
        SamplerConfig(top_p=0)


@pytest.mark.parametrize("top_k, top_p", [(3, None), (3, 0.7), (None, 0.7), (None, None)])
def test_sample_draws_the_filtered_softmax(top_k, top_p):
    """Frequencies of 40,000 draws (two rows) against the known answer: the softmax of the
    tempered logits over the tokens `filter_logits` keeps, zero elsewhere (within 4 standard errors, 0.014)."""
    logits = torch.tensor([[2.0, 1.5, 1.0, 0.2, -1.0, -3.0], [0.0, 3.0, -1.0, 1.0, 2.5, 0.5]])
    config = SamplerConfig(temperature=0.7, top_k=top_k, top_p=top_p)
    expected = filter_logits(logits / 0.7, top_k=top_k, top_p=top_p).softmax(-1)
    generator = torch.Generator().manual_seed(0)
    draws = torch.stack([sample(logits, config, generator) for _ in range(20_000)])  # (n b)
    counts = torch.stack([torch.bincount(draws[:, row], minlength=6) for row in range(2)]).float()
    assert torch.equal(counts > 0, expected > 0)
    assert (counts / 20_000 - expected).abs().max() < 0.014


@pytest.mark.parametrize("rows, optional_embeddings, window", [(1, False, 3), (2, False, 3), (2, True, 3), (1, True, 2)])
def test_window_logits_equal_a_fresh_forward_at_every_step(models, rows, optional_embeddings, window):
    """The streaming invariant, over window shifts, with (rows=2) and without guidance, and with
    grid-position embeddings (the window's renumbered frames must get their new cells) and code
    digits, also in a window shorter than the trained one."""
    lm, _ = models
    if optional_embeddings:  # grid positions and code digits
        torch.manual_seed(1)
        lm = VideoLM(Transformer(replace(lm.config, grid_positions=True, code_levels=(2,) * 6)).eval(), lm.text)
    model = lm.model
    prefixes = torch.stack([lm.prompt_tokens("a red circle"), lm.prompt_tokens("")][:rows])
    context = WindowedContext(model, prefixes, window_frames=window)
    generator = torch.Generator().manual_seed(0)
    frames_done, worst = 0, 0.0
    while frames_done < 9:  # anchor + 8 frames: 9 - window shifts
        with torch.no_grad():
            fresh = model(context.tokens())[:, -1]
        worst = max(worst, (context.logits - fresh).abs().max().item())
        token = lm.vocab.video_offset + torch.randint(0, 64, (), generator=generator)
        frames_done += context.push(token) is not None
    assert worst < TOLERANCE
    # Anchor + window - 1 complete frames, and the anchor is the first frame ever generated.
    assert len(context.frames) == window
    assert context.tokens().shape[1] == model.config.prefix_len + window * 16


@pytest.mark.parametrize("rows", [1, 2])
def test_a_prompt_switch_keeps_the_invariant_over_the_same_anchor_and_window(models, rows):
    """After `switch` (mid-frame too) the logits equal a fresh forward over the new prefix, the same
    anchor, window and frame in progress, with (rows=2) and without guidance, and stay so."""
    lm, _ = models
    model = lm.model
    before = torch.stack([lm.prompt_tokens("a red circle moving left"), lm.prompt_tokens("")][:rows])
    after = torch.stack([lm.prompt_tokens("a blue square moving up"), lm.prompt_tokens("")][:rows])
    context = WindowedContext(model, before, window_frames=3)
    generator = torch.Generator().manual_seed(0)
    worst, pushed = 0.0, 0
    while pushed < 16 * 6:  # past the first slide, then the switch 8 tokens into a frame, then 2 more frames
        if pushed == 16 * 4 - 8:
            video = context.tokens()[:, before.shape[1]:]
            context.switch(after)
            assert torch.equal(context.tokens(), torch.cat([after, video], dim=1))
        with torch.no_grad():
            fresh = model(context.tokens())[:, -1]
        worst = max(worst, (context.logits - fresh).abs().max().item())
        context.push(lm.vocab.video_offset + torch.randint(0, 64, (), generator=generator))
        pushed += 1
    assert worst < TOLERANCE
    with pytest.raises(ValueError, match="prefix rows"):
        context.switch(torch.cat([after, after]))


def test_a_stream_switches_prompts_where_its_schedule_says(models):
    from itertools import islice

    from arvid.sampling import stream
    lm, tokenizer = models
    config = SamplerConfig(seed=2, top_k=20, cfg_scale=2.0)
    plain = list(islice(stream(lm, tokenizer, PROMPT, config), 7))
    schedule = lambda index: PROMPT if index < 5 else "a blue square moving up"  # noqa: E731
    switched = list(islice(stream(lm, tokenizer, PROMPT, config, prompts=schedule), 7))
    assert [frame.prompt for frame in switched] == [None] * 5 + ["a blue square moving up", None]
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(plain[:5], switched[:5]))  # the same until the switch
    assert not all(torch.equal(a.codes, b.codes) for a, b in zip(plain[5:], switched[5:]))
    respaced = list(islice(stream(lm, tokenizer, PROMPT, config, prompts=lambda index: f"  {PROMPT}  ".replace(" ", "  ")), 7))
    assert all(frame.prompt is None for frame in respaced)  # spacing alone is no switch (no prefill, no new window)
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(plain, respaced))


def test_same_seed_same_video_and_frame_shapes(models):
    lm, tokenizer = models
    config = SamplerConfig(seed=3, top_k=20)
    first = generate(lm, tokenizer, "a red circle moving left", 4, config)
    again = generate(lm, tokenizer, "a red circle moving left", 4, config)
    other = generate(lm, tokenizer, "a red circle moving left", 4, SamplerConfig(seed=4, top_k=20))
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(first, again))
    assert not all(torch.equal(a.codes, b.codes) for a, b in zip(first, other))
    assert [f.frames.shape for f in first] == [(1, 32, 32, 3)] + [(4, 32, 32, 3)] * 3
    assert [f.index for f in first] == [0, 1, 2, 3] and not any(f.given for f in first)
    assert first[0].codes.shape == (4, 4) and int(first[0].codes.max()) < 64


@pytest.mark.parametrize("candidates, video", [(1, False), (3, False), (1, True)])
def test_pipelined_decoding_yields_the_same_frames(models, candidates, video):
    """The decoder on a second thread sees the same codes in the same order: nothing changes but timing."""
    from itertools import islice

    from arvid.sampling import stream
    lm, tokenizer = models
    config = SamplerConfig(seed=5, top_k=20, cfg_scale=2.0, first_window_candidates=candidates)
    given = {"video": np.random.default_rng(0).integers(0, 256, (9, 32, 32, 3), dtype=np.uint8)} if video else {}
    inline = list(islice(stream(lm, tokenizer, PROMPT, config, **given), 7))
    pipelined = list(islice(stream(lm, tokenizer, PROMPT, config, pipelined=True, **given), 7))
    assert [(f.index, f.given) for f in pipelined] == [(f.index, f.given) for f in inline]
    assert all(torch.equal(a.codes, b.codes) and np.array_equal(a.frames, b.frames) for a, b in zip(inline, pipelined))


@pytest.mark.parametrize("video", [False, True])
def test_pipelined_batched_candidates_are_decoded_as_drawn_to_the_same_frames(models, video, monkeypatch):
    """With batched candidates the pipelined stream decodes each latent frame of every candidate while
    the next is drawn: the same codes, the same choice, and frames within float rounding of decoding
    the candidates whole (a streaming decoder's)."""
    from itertools import islice

    from arvid.sampling import drawing, stream
    lm, tokenizer = models
    config = SamplerConfig(seed=3, top_k=20, cfg_scale=2.0, first_window_candidates=3)
    given = {"video": np.random.default_rng(1).integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)} if video else {}
    together = list(islice(stream(lm, tokenizer, PROMPT, config, batched_candidates=True, **given), 7))
    pushed, push = [], drawing._DecodedAsDrawn.push
    monkeypatch.setattr(drawing._DecodedAsDrawn, "push", lambda self, codes: (pushed.append(codes), push(self, codes)))
    as_drawn = list(islice(stream(lm, tokenizer, PROMPT, config, batched_candidates=True, pipelined=True, **given), 7))
    window = config.window_for(lm.config.window_frames)
    assert len(pushed) == sum(f.index <= window and not f.given for f in as_drawn) > 0  # each candidate frame, as drawn
    assert all(codes.shape == (3, 4, 4) for codes in pushed)  # 3 candidates' codes on the 4x4 latent grid
    assert [(f.index, f.given) for f in as_drawn] == [(f.index, f.given) for f in together]
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(together, as_drawn))
    assert all(np.abs(a.frames.astype(int) - b.frames.astype(int)).max() <= 1 for a, b in zip(together, as_drawn))


def test_guided_generation_runs_and_differs(models):
    lm, tokenizer = models
    plain = generate(lm, tokenizer, "a blue square", 3, SamplerConfig(temperature=0))
    guided = generate(lm, tokenizer, "a blue square", 3, SamplerConfig(temperature=0, cfg_scale=3.0))
    assert len(guided) == 3
    assert not all(torch.equal(a.codes, b.codes) for a, b in zip(plain, guided))


def test_first_window_temperature_applies_until_the_window_first_slides(models):
    """Window 3: the anchor and latent frames 1-3 are drawn greedily, frames 4 and 5 at temperature 1."""
    lm, tokenizer = models
    greedy = generate(lm, tokenizer, "a red circle moving left", 6, SamplerConfig(temperature=0))
    mixed = generate(lm, tokenizer, "a red circle moving left", 6,
                     SamplerConfig(temperature=1.0, first_window_temperature=0.0, seed=3))
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(greedy[:4], mixed[:4]))
    assert not any(torch.equal(a.codes, b.codes) for a, b in zip(greedy[4:], mixed[4:]))
    assert SamplerConfig(temperature=0.7).first_window().temperature == 0.7
    with pytest.raises(ValueError, match="first_window_temperature"):
        SamplerConfig(first_window_temperature=-1)


def test_switch_temperature_applies_to_the_window_after_a_switch(models):
    """Window 3, a switch at latent frame 4: frames 4-6 are drawn greedily, as every frame before; frame 7
    at temperature 1."""
    from itertools import islice

    from arvid.sampling import stream
    lm, tokenizer = models
    schedule = lambda index: PROMPT if index < 4 else "a blue square moving up"  # noqa: E731
    greedy = list(islice(stream(lm, tokenizer, PROMPT, SamplerConfig(temperature=0), prompts=schedule), 8))
    mixed = list(islice(stream(lm, tokenizer, PROMPT, SamplerConfig(temperature=1.0, first_window_temperature=0.0,
                                                                    switch_temperature=0.0, seed=3),
                               prompts=schedule), 8))
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(greedy[:7], mixed[:7]))
    assert not torch.equal(greedy[7].codes, mixed[7].codes)
    assert SamplerConfig(temperature=0.7).after_switch().temperature == 0.7
    with pytest.raises(ValueError, match="switch_temperature"):
        SamplerConfig(switch_temperature=-1)


def test_image_and_continuation_conditioning(models):
    lm, tokenizer = models
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (32, 32, 3), dtype=np.uint8)
    frames = generate(lm, tokenizer, "a circle", 3, SamplerConfig(), image=image)
    expected = tokenizer.encode(torch.from_numpy(image).permute(2, 0, 1)[None, :, None].float() / 127.5 - 1)[0, 0]
    assert frames[0].given and torch.equal(frames[0].codes, expected)
    assert not frames[1].given

    video = rng.integers(0, 255, (9, 32, 32, 3), dtype=np.uint8)
    frames = generate(lm, tokenizer, "a circle", 5, SamplerConfig(), video=video)
    assert [f.given for f in frames] == [True, True, True, False, False]
    with pytest.raises(ValueError, match="not both"):
        generate(lm, tokenizer, "", 2, image=image, video=video)
    with pytest.raises(ValueError, match="32x32x3"):
        generate(lm, tokenizer, "", 2, image=image[:16])


def test_bad_window_and_mismatched_models(models):
    lm, tokenizer = models
    with pytest.raises(ValueError, match="window_frames must be in"):
        generate(lm, tokenizer, "", 2, SamplerConfig(window_frames=9))
    other = VideoTokenizer(TokenizerConfig(image_size=32, channels=8, channel_multipliers=(1, 2, 2), norm_groups=4,
                                           codebook_bits=5))
    with pytest.raises(ValueError, match="the tokenizer has 32 codes"):
        generate(lm, tokenizer=other, prompt="", latent_frames=2)
    narrow = VideoLM(Transformer(replace(lm.config, grid_positions=True, frame_width=2)), lm.text)  # 8 x 2 cells
    with pytest.raises(ValueError, match="grid positions expect latent frames of 8x2 codes; the tokenizer's are 4x4"):
        generate(narrow, tokenizer, prompt="", latent_frames=2)
    # 64 codes either way, but not the digits of the tokenizer's 6-bit LFQ codes.
    other_digits = VideoLM(Transformer(replace(lm.config, code_levels=(4, 4, 4))), lm.text)
    expected = r"code_levels \[4, 4, 4\] are not the digits of the tokenizer's codes \[2, 2, 2, 2, 2, 2\]"
    with pytest.raises(ValueError, match=expected):
        generate(other_digits, tokenizer, prompt="", latent_frames=2)
    generate(VideoLM(Transformer(replace(lm.config, code_levels=(2,) * 6)), lm.text), tokenizer, "", 1)


def test_streams_of_one_lm_in_two_threads_draw_what_each_draws_alone(models):
    # The KV cache is the model's: two threads took it from each other, and both drew garbage.
    import threading

    lm, tokenizer = models
    jobs = {"a": ("a red circle moving left", 2), "b": ("a blue square moving up", 5)}
    alone = {name: generate(lm, tokenizer, prompt, 5, SamplerConfig(seed=seed, top_k=20))
             for name, (prompt, seed) in jobs.items()}
    together = {}

    def draw(name: str) -> None:
        prompt, seed = jobs[name]
        together[name] = generate(lm, tokenizer, prompt, 5, SamplerConfig(seed=seed, top_k=20))

    threads = [threading.Thread(target=draw, args=(name,)) for name in jobs]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    for name in jobs:
        assert all(torch.equal(a.codes, b.codes) for a, b in zip(together[name], alone[name]))


def test_threads_take_turns_and_a_prompts_function_may_use_the_same_lm(models):
    # A plain lock let the thread that released it take it again: one stream drew all its frames
    # before the other drew one. And a prompts function that generates with the same LM must not
    # wait for the lock its own stream holds.
    import threading

    lm, tokenizer = models
    config, order, start = SamplerConfig(seed=1, top_k=20), [], threading.Barrier(2)

    def draw(name: str) -> None:
        frames = stream(lm, tokenizer, PROMPT, config)
        start.wait()
        for _ in range(8):
            next(frames)
            order.append(name)

    threads = [threading.Thread(target=draw, args=(name,)) for name in "ab"]
    [thread.start() for thread in threads]
    [thread.join() for thread in threads]
    last = {name: len(order) - 1 - order[::-1].index(name) for name in "ab"}
    assert order.index("b") < last["a"] and order.index("a") < last["b"]  # neither drew all before the other drew one
    done = []
    peek = lambda index: (generate(lm, tokenizer, "a blue square moving up", 1, config), PROMPT)[1]  # noqa: E731
    worker = threading.Thread(target=lambda: done.extend(generate(lm, tokenizer, PROMPT, 5, config, prompts=peek)),
                              daemon=True)
    worker.start()
    worker.join(timeout=120)
    assert len(done) == 5, "a prompts function that uses the stream's LM waited for its own stream"


def test_a_turn_given_up_while_waiting_is_skipped():
    # A thread stopped (Ctrl-C) while waiting for its turn must not leave every later one waiting.
    import threading

    from arvid.sampling.drawing import Turns

    turns, served = Turns(), []
    turns.__enter__()  # this thread holds the turn
    real_wait = turns._changed.wait_for

    def interrupted_wait(predicate):
        turns._changed.wait_for = real_wait  # the next waiter waits for real
        raise KeyboardInterrupt

    def wait(name: str) -> None:
        try:
            with turns:
                served.append(name)
        except KeyboardInterrupt:
            served.append(f"{name} gave up")

    turns._changed.wait_for = interrupted_wait
    giving_up = threading.Thread(target=wait, args=("a",))
    giving_up.start()
    giving_up.join()
    waiting = threading.Thread(target=wait, args=("b",), daemon=True)
    waiting.start()
    turns.__exit__(None, None, None)
    waiting.join(timeout=10)
    assert served == ["a gave up", "b"]


def test_arguments_of_the_wrong_kind_are_named_before_drawing(models):
    import numpy as np

    lm, tokenizer = models
    with pytest.raises(TypeError, match="lm must be a VideoLM.from_pretrained.folder., got VideoTokenizer"):
        stream(tokenizer, lm, "")
    with pytest.raises(TypeError, match=r"config must be a SamplerConfig\(...\) or None, got dict"):
        stream(lm, tokenizer, "", {"cfg_scale": 2})
    with pytest.raises(TypeError, match="jacobi_block must be an int >= 0, got 1.5"):
        stream(lm, tokenizer, "", jacobi_block=1.5)
    with pytest.raises(TypeError, match="pipelined must be True or False, got 'no'"):
        stream(lm, tokenizer, "", pipelined="no")
    with pytest.raises(ValueError, match=r"seed must be in \[-2\*\*63, 2\*\*64\), got 18446744073709551616"):
        stream(lm, tokenizer, "", seed=2**64)
    assert SamplerConfig(seed=np.int64(3)).seed == 3 and type(SamplerConfig(seed=np.int64(3)).seed) is int
    with pytest.raises(TypeError, match="prompts must be a list of prompts, got the string 'a red circle'"):
        lm.prefixes("a red circle")  # was one prompt a character
    assert len(generate(lm, tokenizer, "", 1, seed=np.int64(3))) == 1  # numpy's integers draw as Python's


# --- sampling defaults that live with the model ------------------------------------------------


def test_the_shipped_generation_config_holds_the_documented_defaults(tmp_path):
    assert SamplerConfig.from_pretrained(shipped_model_dir()) == SHIPPED_DEFAULTS
    assert SamplerConfig.from_pretrained(default_model_dir("lm")) == SHIPPED_DEFAULTS  # the LM folder itself
    assert SamplerConfig.from_pretrained(tmp_path) == SamplerConfig()  # no file: the neutral defaults
    with pytest.raises(FileNotFoundError, match="does not exist"):
        SamplerConfig.from_pretrained(tmp_path / "nowhere")


def test_save_and_load_round_trip(tmp_path):
    config = SamplerConfig(temperature=0.8, top_p=0.9, cfg_scale=3, window_frames=2, first_window_candidates=2, seed=7)
    path = config.save_pretrained(tmp_path)
    assert path.name == "generation_config.json" and "seed" not in json.loads(path.read_text())
    assert SamplerConfig.from_pretrained(tmp_path) == replace(config, seed=0)  # the seed is chosen per call
    assert isinstance(SamplerConfig.from_pretrained(tmp_path).cfg_scale, float)


@pytest.mark.parametrize("content, message", [
    ({"temprature": 0.5}, "unknown key 'temprature'"),
    ({"seed": 3}, "unknown key 'seed'"),
    ({"top_k": 2.5}, "top_k must be an integer or null, got 2.5"),
    ({"top_k": True}, "top_k must be an integer or null, got true"),
    ({"cfg_scale": "2"}, 'cfg_scale must be a number, got "2"'),
    ({"top_p": 1.5}, r"top_p must be in \(0, 1\]"),
    ({"first_window_selector": "best"}, "first_window_selector must be one of"),
    ([1, 2], "expected a JSON object"),
    ("{not json", "not valid JSON"),
])
def test_a_bad_file_is_an_error_naming_the_file_and_key(tmp_path, content, message):
    path = tmp_path / "generation_config.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    with pytest.raises(ValueError, match=message) as error:
        SamplerConfig.from_pretrained(tmp_path)
    assert str(error.value).startswith(str(path))


def test_generate_without_a_config_uses_the_models_own(models, tmp_path):
    lm, tokenizer = models
    shipped = json.loads((default_model_dir("lm") / "generation_config.json").read_text())
    replace(lm, generation_config=shipped).save_pretrained(tmp_path / "lm")
    loaded = VideoLM.from_pretrained(tmp_path / "lm")
    assert loaded.generation_config == shipped and SamplerConfig.from_model(loaded) == SHIPPED_DEFAULTS
    implicit = generate(loaded, tokenizer, PROMPT, latent_frames=5, config=None)
    explicit = generate(loaded, tokenizer, PROMPT, latent_frames=5, config=replace(SHIPPED_DEFAULTS, seed=0))
    neutral = generate(loaded, tokenizer, PROMPT, latent_frames=5, config=SamplerConfig())
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(implicit, explicit, strict=True))
    assert not all(torch.equal(a.codes, b.codes) for a, b in zip(implicit, neutral, strict=True))
    # An LM without a generation config samples with the neutral defaults, as before.
    assert SamplerConfig.from_model(lm) == SamplerConfig()


def test_the_shipped_model_without_a_config_draws_with_its_documented_defaults():
    from arvid.tools.checkpoints import load_models

    lm, tokenizer = load_models(None, "cpu")
    prompt = "a small red circle moving right on a black background"
    # The four candidates as one batch (both calls alike, seed 0): half the time of one after another.
    implicit = generate(lm, tokenizer, prompt, latent_frames=3, config=None, batched_candidates=True)
    explicit = generate(lm, tokenizer, prompt, latent_frames=3, config=SHIPPED_DEFAULTS, batched_candidates=True)
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(implicit, explicit, strict=True))


def test_a_bad_generation_config_of_a_loaded_lm_names_its_file(models, tmp_path):
    lm, tokenizer = models
    replace(lm, generation_config={"top_k": 0}).save_pretrained(tmp_path / "lm")
    with pytest.raises(ValueError, match=r"lm/generation_config.json: top_k must be >= 1"):
        generate(VideoLM.from_pretrained(tmp_path / "lm"), tokenizer, PROMPT, latent_frames=1)


def test_the_first_window_selector_is_a_named_choice(models, monkeypatch):
    lm, tokenizer = models
    offered = []

    def last(videos):
        offered.append([video.shape for video in videos])
        return len(videos) - 1

    monkeypatch.setitem(FIRST_WINDOW_SELECTORS, "first", lambda videos: 0)
    monkeypatch.setitem(FIRST_WINDOW_SELECTORS, "last", last)
    config = SamplerConfig(cfg_scale=2.0, top_k=20, seed=4, first_window_candidates=3)
    plain = generate(lm, tokenizer, PROMPT, 4, replace(config, first_window_candidates=1))
    first = generate(lm, tokenizer, PROMPT, 4, replace(config, first_window_selector="first"))
    chosen = generate(lm, tokenizer, PROMPT, 4, replace(config, first_window_selector="last"))
    # Three candidates of the anchor and latent frames 1-3 (1 + 3 * 4 frames), decoded, were offered.
    assert offered == [[(13, 32, 32, 3)] * 3]
    # The first candidate is the plain sampler's draw; the last one is another.
    assert all(torch.equal(a.codes, b.codes) for a, b in zip(plain, first, strict=True))
    assert not all(torch.equal(a.codes, b.codes) for a, b in zip(first, chosen, strict=True))
    with pytest.raises(ValueError, match="first_window_selector must be one of"):
        SamplerConfig(first_window_selector="best")
