"""The LM: vocabulary and layout, masks, cached decode, Llama parity, export/import, bad input."""

from __future__ import annotations

import json

import pytest
import torch
from lm_fixtures import shapes_text_tokenizer, tiny_config

from arvid.kernels import CAUSAL
from arvid.lm.checkpoint import VideoLM
from arvid.lm.config import LMConfig
from arvid.lm.hf import export_hf, from_hf, to_hf
from arvid.lm.layout import build_sequence, prefix_tokens
from arvid.lm.model import FEW_ROWS, RECOMPILE_LIMIT, Transformer, project
from arvid.lm.vocabulary import SPECIAL_TOKENS, Vocabulary

TOLERANCE = 1e-4  # float32, as the issue states


@pytest.fixture(scope="module")
def text():
    return shapes_text_tokenizer()


def make_model(seed: int = 0, **overrides) -> Transformer:
    torch.manual_seed(seed)
    return Transformer(tiny_config(**overrides)).eval()


def test_vocabulary_round_trips_and_offsets():
    vocab = Vocabulary(text_size=10, video_size=20)
    assert vocab.size == len(SPECIAL_TOKENS) + 30
    codes = torch.randint(0, 20, (3, 2, 2))
    ids = vocab.video_ids(codes)
    assert bool(vocab.is_video(ids).all()) and torch.equal(vocab.video_codes(ids), codes)
    assert torch.equal(vocab.text_ids([0, 9]) - vocab.text_offset, torch.tensor([0, 9]))
    assert len({vocab.pad, vocab.bos, vocab.eos, vocab.bot, vocab.eot, vocab.bov, vocab.eov,
                vocab.task_id("text-to-video"), vocab.task_id("image-to-video"), vocab.task_id("continuation")}) == 10
    with pytest.raises(ValueError, match="video codes"):
        vocab.video_ids(torch.tensor([20]))
    with pytest.raises(ValueError, match="text piece"):
        vocab.text_ids([10])
    with pytest.raises(ValueError, match="video-code"):
        vocab.video_codes(torch.tensor([vocab.bos]))
    with pytest.raises(ValueError, match="unknown task"):
        vocab.task_id("video-to-audio")


def test_layout_places_every_part(text):
    config = tiny_config()
    vocab = Vocabulary(text_size=config.text_vocab_size, video_size=config.video_vocab_size)
    pieces = text.encode("a small red circle moving right on a black background")
    codes = torch.randint(0, config.video_vocab_size, (2, 2, 2))
    sequence = build_sequence(vocab, pieces, codes, task="text-to-video", text_tokens=config.text_tokens, end=True)
    tokens = sequence.tokens
    assert len(tokens) == config.prefix_len + codes.numel() + 2
    assert tokens[:3].tolist() == [vocab.bos, vocab.task_id("text-to-video"), vocab.bot]
    assert (tokens[3:3 + len(pieces)] - vocab.text_offset).tolist() == pieces
    assert bool((tokens[3 + len(pieces):config.prefix_len - 2] == vocab.pad).all())
    assert tokens[config.prefix_len - 2:config.prefix_len].tolist() == [vocab.eot, vocab.bov]
    assert torch.equal(vocab.video_codes(tokens[config.prefix_len:-2]).view(2, 2, 2), codes)
    assert tokens[-2:].tolist() == [vocab.eov, vocab.eos]
    assert sequence.loss_mask.tolist() == [False] * config.prefix_len + [True] * (codes.numel() + 2)
    assert text.decode(pieces) == "a small red circle moving right on a black background"
    with pytest.raises(ValueError, match="reads at most"):
        prefix_tokens(vocab, list(range(config.text_tokens + 1)), task="text-to-video", text_tokens=config.text_tokens)


def test_prefix_is_bidirectional_and_video_is_causal():
    model = make_model()
    config = model.config
    tokens = torch.randint(0, config.vocab_size, (1, config.prefix_len + 8))
    base = model(tokens)
    text_changed = tokens.clone()
    text_changed[0, config.prefix_len - 3] += 1  # the last text slot
    changed = model(text_changed)
    # An early text position sees a later text token ...
    assert (changed[0, 1] - base[0, 1]).abs().max() > 1e-6
    video_changed = tokens.clone()
    video_changed[0, config.prefix_len + 4] += 1
    changed = model(video_changed)
    # ... but no position sees a video token after it.
    assert torch.equal(changed[0, :config.prefix_len + 4], base[0, :config.prefix_len + 4])
    causal = make_model(bidirectional_prefix=False)
    assert torch.equal(causal(text_changed)[0, :config.prefix_len - 3], causal(tokens)[0, :config.prefix_len - 3])


@pytest.mark.parametrize("bidirectional_prefix, grid_positions, code_levels",
                         [(True, False, None), (False, False, None), (True, True, None), (True, True, (4, 4))])
def test_prefill_then_decode_equals_full_forward(bidirectional_prefix, grid_positions, code_levels):
    model = make_model(bidirectional_prefix=bidirectional_prefix, grid_positions=grid_positions,
                       code_levels=code_levels)
    config = model.config
    length = config.prefix_len + 12
    tokens = torch.randint(0, config.vocab_size, (2, length))
    with torch.no_grad():
        full = model(tokens)
    model.setup_cache(batch=2, max_len=length + 3)
    steps = [model.prefill(tokens[:, :config.prefix_len], torch.arange(config.prefix_len))]
    for position in range(config.prefix_len, length):
        steps.append(model.decode(tokens[:, position:position + 1], torch.tensor([position])))
    assert (torch.cat(steps, dim=1) - full).abs().max() < TOLERANCE


def test_cached_inference_runs_under_bf16_autocast_with_float32_weights():
    """Autocast hands the cache bfloat16 keys and values; the float32 cache stores them in its own
    dtype (it failed at the first write), and the logits stay near float32's."""
    model = make_model()
    config = model.config
    length = config.prefix_len + 3
    tokens = torch.randint(0, config.vocab_size, (2, length))
    with torch.no_grad():
        full = model(tokens)
        model.setup_cache(batch=2, max_len=length)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            steps = [model.prefill(tokens[:, :config.prefix_len], torch.arange(config.prefix_len))]
            for position in range(config.prefix_len, length):
                steps.append(model.decode(tokens[:, position:position + 1], torch.tensor([position])))
    assert model.layers[0].self_attn.cache.keys.dtype == torch.float32
    assert (torch.cat(steps, dim=1).float() - full).abs().max() < 0.1  # bfloat16's 8 bits over logits of order 1


@pytest.mark.parametrize("grid_positions, code_levels", [(False, None), (True, (4, 4))])
def test_compiled_decode_equals_full_forward(grid_positions, code_levels):
    """The compiled decode step (grouped-query heads, batch 2: the rows that guidance decodes, and
    few enough that its linear layers become fused products and sums) reproduces the full forward."""
    model = make_model(grid_positions=grid_positions, code_levels=code_levels)
    config = model.config
    length = config.prefix_len + 4
    tokens = torch.randint(0, config.vocab_size, (2, length))
    with torch.no_grad():
        full = model(tokens)
    model.compile_decode()
    model.setup_cache(batch=2, max_len=length)
    steps = [model.prefill(tokens[:, :config.prefix_len], torch.arange(config.prefix_len))]
    for position in range(config.prefix_len, length):
        steps.append(model.decode(tokens[:, position:position + 1], torch.tensor([position])))
    assert (torch.cat(steps, dim=1) - full).abs().max() < TOLERANCE


@pytest.mark.parametrize("shape, outputs", [((1, 1, 24), 40), ((2, 1, 24), 40), ((3, 1, 24), 40), ((2, 2, 24), 40),
                                            ((1, 1, 24), 42), ((2, 1, 24), 3), ((4, 2, 24), 40)])
def test_compiled_few_row_projection_equals_the_linear_layer(shape, outputs):
    """`project`'s compiled form for a few rows (a broadcast product and a sum over groups of the
    weight's rows: 42 leaves 2 rows past 4 groups, 3 is fewer rows than groups) gives the linear
    layer's output in the input's leading shape."""
    layer = torch.nn.Linear(24, outputs, bias=False)
    x = torch.randn(shape)
    assert x[..., 0].numel() <= FEW_ROWS  # the compiled branch under test
    compiled = torch.compile(lambda inputs: project(inputs, layer), fullgraph=True, dynamic=False)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), layer(x), rtol=1e-5, atol=1e-5)


def test_the_compiled_step_takes_more_cache_shapes_than_torchs_limit(monkeypatch):
    """One graph per cache shape: with torch's limit at 2 (default 8), the third shape would be a hard
    error under `fullgraph`; `compile_decode` raises the limit."""
    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 2)
    model = make_model(grid_positions=False)
    model.compile_decode()
    start = model.config.prefix_len
    for extra in (1, 2, 3):
        model.setup_cache(batch=1, max_len=start + extra)
        model.prefill(torch.zeros(1, start, dtype=torch.long), torch.arange(start))
        model.decode(torch.zeros(1, 1, dtype=torch.long), torch.tensor([start]))
    assert torch._dynamo.config.recompile_limit >= RECOMPILE_LIMIT


def test_compiled_decode_follows_a_new_cache_and_new_weights():
    """A cache set up again at another batch and length, and weights loaded in place, still give the
    eager model's logits through the compiled step; and a model of another structure, compiled first
    in the same process with the same shapes, does not lend it its graph."""
    other = make_model(grid_positions=False)
    other.compile_decode()
    start = other.config.prefix_len
    zeros = torch.zeros(2, start + 3, dtype=torch.long)  # the shapes and strides of the first round below
    other.setup_cache(batch=2, max_len=start + 3)
    other.prefill(zeros[:, :start], torch.arange(start))
    other.decode(zeros[:, start:start + 1], torch.tensor([start]))
    structure = {"grid_positions": True, "code_levels": (4, 4)}
    model, eager = make_model(**structure), make_model(**structure)
    config = model.config
    model.compile_decode()
    for batch, extra, seed in ((2, 3, 1), (1, 5, 2)):
        state = make_model(seed, **structure).state_dict()
        torch.manual_seed(seed)
        model.load_state_dict(state)
        eager.load_state_dict(state)
        length = config.prefix_len + extra
        tokens = torch.randint(0, config.vocab_size, (batch, length))
        for lm in (model, eager):
            lm.setup_cache(batch=batch, max_len=length)
            lm.prefill(tokens[:, :config.prefix_len], torch.arange(config.prefix_len))
        for position in range(config.prefix_len, length):
            step = [lm.decode(tokens[:, position:position + 1], torch.tensor([position])) for lm in (model, eager)]
            assert (step[0] - step[1]).abs().max() < TOLERANCE


def test_the_training_loss_in_chunks_equals_the_loss_over_all_logits(monkeypatch):
    """Given targets, the model sums their cross-entropy itself; where the logits would be many it
    makes them a chunk of positions at a time (here forced: 3 chunks of 7 positions, the last short),
    with the same loss and gradients as one product over all logits."""
    import arvid.lm.model as model_module

    torch.manual_seed(0)
    model = Transformer(tiny_config(grid_positions=True))
    tokens = torch.randint(0, model.config.vocab_size, (2, 19))
    targets = tokens.roll(-1, dims=1).masked_fill(torch.rand(2, 19) < 0.3, -100)
    expected = torch.nn.functional.cross_entropy(model(tokens).flatten(0, 1), targets.flatten(), ignore_index=-100,
                                                 reduction="sum")
    expected.backward()
    whole = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()
    monkeypatch.setattr(model_module, "LOSS_CHUNK_LOGITS", 2 * 7 * model.config.vocab_size)
    loss = model(tokens, targets=targets)
    loss.backward()
    torch.testing.assert_close(loss, expected, rtol=1e-5, atol=1e-4)
    for name, p in model.named_parameters():
        torch.testing.assert_close(p.grad, whole[name], rtol=1e-4, atol=1e-6, msg=name)


def test_positions_come_from_a_table_on_the_models_device_checked_against_the_cache():
    torch.manual_seed(0)
    model = Transformer(tiny_config()).eval()
    with pytest.raises(RuntimeError, match="setup_cache"):
        model.positions(0)
    model.setup_cache(1, 40)
    assert model.positions(3, 4).tolist() == [3, 4, 5, 6] and model.positions(39).tolist() == [39]
    for start, count in ((40, 1), (38, 3), (-1, 1)):
        with pytest.raises(ValueError, match="outside the cache's 40 slots"):
            model.positions(start, count)
    model.setup_cache(1, 60)  # a larger cache: a larger table
    assert model.positions(59).tolist() == [59]


def test_grid_positions_name_the_cell_each_input_predicts():
    """Frames of 2 x 2 codes, 3 after the anchor: the input at position p is told the cell of the
    code at p + 1 (frame, row, column); text inputs and the inputs before the end tokens get zeros."""
    model = make_model(grid_positions=True, tokens_per_frame=4, frame_width=2, window_frames=3)
    grid, start = model.embed_grid, model.config.prefix_len - 1  # [BOV] predicts the first code
    expected_cells = {start: (0, 0, 0), start + 1: (0, 0, 1), start + 2: (0, 1, 0), start + 3: (0, 1, 1),
                      start + 4: (1, 0, 0), start + 15: (3, 1, 1)}
    with torch.no_grad():
        got = grid(torch.arange(start + 18))
        for position, (frame, row, column) in expected_cells.items():
            cell = grid.frame.weight[frame] + grid.row.weight[row] + grid.column.weight[column]
            assert torch.allclose(got[position], cell), position
    assert bool((got[:start] == 0).all()) and bool((got[start + 16:] == 0).all())


def test_the_model_reads_its_grid_positions():
    """Changing the grid embeddings changes the logits from [BOV] on, and none before it (the
    bidirectional text prefix has no grid cell)."""
    model = make_model(grid_positions=True, bidirectional_prefix=False)
    tokens = torch.randint(0, model.config.vocab_size, (1, model.config.prefix_len + 6))
    with torch.no_grad():
        before = model(tokens)
        model.embed_grid.column.weight.add_(1.0)
        after = model(tokens)
    changed = (after - before).abs().amax(dim=-1)[0] > 1e-4
    start = model.config.prefix_len - 1
    assert not bool(changed[:start].any()) and bool(changed[start:].all())


def test_a_window_holds_at_least_two_frames():
    """With one, each frame after the first window would follow the anchor alone: a draw training
    never teaches (the sampler refuses such a window too)."""
    with pytest.raises(ValueError, match="window_frames must be >= 2"):
        tiny_config(window_frames=1)
    assert tiny_config(window_frames=2).window_frames == 2


def test_grid_position_errors():
    with pytest.raises(ValueError, match="cannot be exported"):
        to_hf(make_model(grid_positions=True))
    with pytest.raises(ValueError, match="does not divide"):
        tiny_config(grid_positions=True, tokens_per_frame=4, frame_width=3)
    with pytest.raises(ValueError, match="not a square"):
        tiny_config(grid_positions=True, tokens_per_frame=8)
    assert tiny_config(tokens_per_frame=8).frame_shape is None  # no grid, nothing to check
    assert tiny_config(grid_positions=True, tokens_per_frame=8, frame_width=4).frame_shape == (2, 4)


def test_code_digits_follow_fsq_and_reach_every_code_with_that_digit():
    """Digits are FSQ's level indices (vector-quantize-pytorch's own decomposition), and moving one
    digit's input embedding moves exactly the codes that have that digit value."""
    from vector_quantize_pytorch import FSQ

    from arvid.lm.code_digits import code_digits

    levels = (8, 5, 3)
    fsq = FSQ(levels=list(levels), dim=3)
    assert torch.equal(code_digits(levels), fsq.indices_to_level_indices(torch.arange(120)).long())
    model = make_model(code_levels=(4, 4))
    video_offset = model.config.vocab_size - 16
    before = model.input_embedding().detach().clone()
    with torch.no_grad():
        model.code_digits.input[4 + 2].add_(1.0)  # second digit (offset 4 = first digit's 4 values), value 2
    moved = ((model.input_embedding() - before).abs().amax(-1) > 0.5).nonzero().flatten().tolist()
    assert moved == [video_offset + code for code in range(16) if code // 4 == 2]


def test_code_levels_errors_and_export_folds_them(tmp_path, text):
    from transformers import LlamaForCausalLM

    with pytest.raises(ValueError, match="multiply to video_vocab_size 16"):
        tiny_config(code_levels=(4, 8))
    with pytest.raises(ValueError, match=">= 2 each"):
        tiny_config(code_levels=(16, 1))
    # Llama has no digit embeddings: export folds them into its embedding table, same logits.
    lm = VideoLM(make_model(code_levels=(4, 4), bidirectional_prefix=False), text)
    export_hf(lm, tmp_path / "hf")
    tokens = torch.randint(0, lm.config.vocab_size, (1, 17))
    with torch.no_grad():
        ours = lm.model(tokens)
        theirs = LlamaForCausalLM.from_pretrained(tmp_path / "hf")(tokens).logits
    assert (ours - theirs).abs().max() < TOLERANCE
    assert from_hf(tmp_path / "hf").config.code_levels is None


def test_backbone_matches_transformers_llama():
    from transformers import LlamaModel

    model = make_model(bidirectional_prefix=False)
    hf_model = to_hf(model).model
    assert isinstance(hf_model, LlamaModel)
    embeddings = torch.randn(2, 23, model.config.dim)
    with torch.no_grad():
        ours = model.backbone(embeddings, CAUSAL)
        theirs = hf_model(inputs_embeds=embeddings, position_ids=torch.arange(23)[None]).last_hidden_state
    assert (ours - theirs).abs().max() < TOLERANCE


def test_export_hf_round_trip(tmp_path, text):
    from transformers import LlamaForCausalLM

    lm = VideoLM(make_model(rope_theta=5000.0, bidirectional_prefix=False), text,
                 training_data={"fps": 24.0, "tokenizer": "natural"})
    export_hf(lm, tmp_path / "hf")
    hf_model = LlamaForCausalLM.from_pretrained(tmp_path / "hf")
    tokens = torch.randint(0, lm.config.vocab_size, (1, 17))
    with torch.no_grad():  # the whole model's logits, the text prefix included
        assert (hf_model(tokens).logits - lm.model(tokens)).abs().max() < TOLERANCE
    # A model that reads its prefix both ways would give other logits through Llama's causal mask.
    with pytest.raises(ValueError, match="bidirectional_prefix"):
        to_hf(make_model(rope_theta=5000.0))
    back = from_hf(tmp_path / "hf")
    assert back.config == lm.config and back.training_data == lm.training_data  # its videos' rate travels with it
    for name, tensor in lm.model.state_dict().items():
        assert torch.equal(back.model.state_dict()[name], tensor), name
    assert back.text.encode("a red circle") == text.encode("a red circle")
    hf_config = json.loads((tmp_path / "hf" / "config.json").read_text())
    hf_config["arvid"]["grid_positions"] = True
    (tmp_path / "hf" / "config.json").write_text(json.dumps(hf_config))
    with pytest.raises(ValueError, match="cannot hold"):
        from_hf(tmp_path / "hf")
    hf_config["arvid"].update(grid_positions=False, bidirectional_prefix=True)
    (tmp_path / "hf" / "config.json").write_text(json.dumps(hf_config))
    with pytest.raises(ValueError, match="attends causally"):
        from_hf(tmp_path / "hf")
    del hf_config["arvid"]["bidirectional_prefix"]  # a layout without it is read as Llama computes: causal
    (tmp_path / "hf" / "config.json").write_text(json.dumps(hf_config))
    assert not from_hf(tmp_path / "hf").config.bidirectional_prefix
    # Llama settings arvid's blocks would compute otherwise, silently, are refused by name.
    for field, value, named in (("rope_scaling", {"rope_type": "linear", "factor": 2.0}, "rotary scaling 'linear'"),
                                ("hidden_act", "gelu", "activation 'gelu'"), ("mlp_bias", True, "mlp_bias")):
        changed = dict(hf_config, **{field: value})
        if field == "rope_scaling":  # transformers 5 writes rope_parameters, which would win over it
            changed.pop("rope_parameters", None)
        (tmp_path / "hf" / "config.json").write_text(json.dumps(changed))
        with pytest.raises(ValueError, match=named):
            from_hf(tmp_path / "hf")


def test_a_text_tokenizer_saves_into_a_folder_it_makes(tmp_path, text):
    assert text.save(tmp_path / "new" / "folder").is_file()


def test_save_load_round_trip_and_mismatch(tmp_path, text):
    lm = VideoLM(make_model(), text)
    lm.save_pretrained(tmp_path / "ckpt")
    back = VideoLM.from_pretrained(tmp_path / "ckpt")
    assert back.config == lm.config
    assert all(torch.equal(back.model.state_dict()[k], v) for k, v in lm.model.state_dict().items())
    assert torch.equal(back.prompt_tokens("a red circle"), lm.prompt_tokens("a red circle"))
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        VideoLM.from_pretrained(tmp_path / "missing")
    (tmp_path / "ckpt" / "text_tokenizer.model").unlink()
    with pytest.raises(FileNotFoundError, match="text_tokenizer.model is missing"):
        VideoLM.from_pretrained(tmp_path / "ckpt")


def test_a_checkpoint_older_than_a_config_field_still_loads(tmp_path, text):
    """A config.json written before `grid_positions` and `frame_width` existed (checkpoints of
    LMs shipped before those fields existed) loads with their defaults; a saved value that differs
    gives a model whose weights do not fit, and that is refused."""
    lm = VideoLM(make_model(), text)
    lm.save_pretrained(tmp_path / "ckpt")
    config_file = tmp_path / "ckpt" / "config.json"
    saved = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({k: v for k, v in saved.items() if k not in ("grid_positions", "frame_width")}))
    assert VideoLM.from_pretrained(tmp_path / "ckpt").config == lm.config
    config_file.write_text(json.dumps(saved | {"grid_positions": True}))
    with pytest.raises(ValueError, match="does not match the model"):
        VideoLM.from_pretrained(tmp_path / "ckpt")


def test_config_and_cache_errors():
    with pytest.raises(ValueError, match="multiple of n_kv_heads"):
        LMConfig(dim=64, n_heads=4, n_kv_heads=3)
    with pytest.raises(ValueError, match="multiple of n_heads"):
        LMConfig(dim=66, n_heads=4)
    model = make_model()
    tokens = torch.zeros(1, 4, dtype=torch.long)
    with pytest.raises(RuntimeError, match="setup_cache"):
        model.prefill(tokens, torch.arange(4))
    model.setup_cache(batch=1, max_len=8)
    with pytest.raises(ValueError, match="batch 1"):
        model.prefill(torch.zeros(2, 4, dtype=torch.long), torch.arange(4))
    with pytest.raises(ValueError, match="past the cache"):
        model.prefill(torch.zeros(1, 9, dtype=torch.long), torch.arange(9))
    with pytest.raises(ValueError, match="starts at position 0"):
        model.prefill(tokens, torch.arange(1, 5))
    with pytest.raises(TypeError, match="expected tensors: tokens .b, n. and positions .n,., got Tensor and int"):
        model.decode(tokens[:, :1], 4)  # an int position failed on .ndim
    for batch, max_len, name in [(0, 8, "batch"), (1, -1, "max_len"), (1.5, 8, "batch")]:
        with pytest.raises(ValueError, match=f"{name} must be an int >= 1"):
            model.setup_cache(batch=batch, max_len=max_len)
