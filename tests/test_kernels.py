"""The Triton attention kernels against a float64 reference, and dispatch.

Without a GPU the kernels run under TRITON_INTERPRET=1 on CPU tensors; on a machine whose torch sees
a GPU they run compiled there, autotuning included, and bf16 is tested too (the interpreter
mishandles bf16 dots). `kernel_device.py` decides which (ARVID_TEST_DEVICE=cpu forces the interpreter).
Shapes are small and deliberately not multiples of the block sizes (16 under the interpreter, 32 to
128 when compiled).
"""

from __future__ import annotations

from kernel_device import kernel_test_device

DEVICE = kernel_test_device()  # also run by conftest.py; repeated for running this file alone

import os  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from arvid.kernels import MaskSpec, attention, decode_attention, reference_attention  # noqa: E402
from arvid.kernels.decode import decode_attention_triton  # noqa: E402
from arvid.kernels.prefill import prefill_attention  # noqa: E402

pytestmark = pytest.mark.skipif(DEVICE == "cpu" and os.environ.get("TRITON_INTERPRET") != "1",
                                reason="no GPU, and the kernels were imported without TRITON_INTERPRET=1")

# Stated once per dtype: fp32 runs IEEE dots (errors ~1e-6); fp16 rounds inputs and outputs to
# 11 bits (relative 5e-4 of values of order 1, plus accumulated rounding of p before the PV dot);
# bf16 keeps 8 bits, 3 fewer than fp16, so 8 times fp16's bound (GPU only).
TOLERANCE = {torch.float32: 1e-5, torch.float16: 3e-3, torch.bfloat16: 2.4e-2}
DTYPES = [torch.float32, torch.float16] + ([torch.bfloat16] if DEVICE == "cuda" else [])
MASKS = {"causal": MaskSpec(), "prefix": MaskSpec(prefix_len=23), "sink_window": MaskSpec(sink=5, window=19)}


def random_qkv(batch, heads, kv_heads, queries, keys, head_dim, dtype, seed, device=DEVICE):
    """Random q (b h n d), k and v (b g m d) of `dtype` on `device` (the kernels' device by default),
    drawn on the CPU so that every device gets the same values."""
    generator = torch.Generator().manual_seed(seed)
    q = torch.randn(batch, heads, queries, head_dim, generator=generator).to(device, dtype)
    k = torch.randn(batch, kv_heads, keys, head_dim, generator=generator).to(device, dtype)
    v = torch.randn(batch, kv_heads, keys, head_dim, generator=generator).to(device, dtype)
    return q, k, v


def assert_matches(result, q, k, v, spec, dtype, **kwargs):
    expected = reference_attention(q.double(), k.double(), v.double(), spec, **kwargs)
    assert result.out.dtype == dtype
    assert (result.out.double() - expected.out).abs().max() < TOLERANCE[dtype]
    finite = torch.isfinite(expected.lse)
    assert torch.equal(torch.isfinite(result.lse), finite)
    assert (result.lse.double()[finite] - expected.lse[finite]).abs().max() < TOLERANCE[dtype]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask", list(MASKS))
@pytest.mark.parametrize("kv_heads", [3, 1])  # plain multi-head, and grouped-query (3 heads per group)
@pytest.mark.parametrize("length", [1, 7, 65, 200])
def test_prefill_matches_float64_reference(dtype, mask, kv_heads, length):
    q, k, v = random_qkv(2, 3, kv_heads, length, length, 32, dtype, seed=length)
    assert_matches(prefill_attention(q, k, v, MASKS[mask]), q, k, v, MASKS[mask], dtype)


@pytest.mark.parametrize("head_dim", [64, 128])
def test_prefill_other_head_dims(head_dim):
    q, k, v = random_qkv(1, 2, 1, 33, 33, head_dim, torch.float32, seed=1)
    assert_matches(prefill_attention(q, k, v, MASKS["prefix"]), q, k, v, MASKS["prefix"], torch.float32)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("mask", list(MASKS))
@pytest.mark.parametrize("kv_heads", [4, 2])
@pytest.mark.parametrize("new_tokens", [1, 3])
def test_decode_matches_float64_reference(dtype, mask, kv_heads, new_tokens):
    """Split-K decode over caches of 200 slots, with a different valid length per sequence."""
    q, k, v = random_qkv(3, 4, kv_heads, new_tokens, 200, 32, dtype, seed=new_tokens)
    lengths = torch.tensor([200, 65, 7], device=DEVICE)
    result = decode_attention_triton(q, k, v, lengths, MASKS[mask])
    assert_matches(result, q, k, v, MASKS[mask], dtype, key_lengths=lengths)


def test_decode_with_strided_queries_and_tiny_windows():
    """The LM hands over q as a transposed view, (b n h d) -> (b h n d); the output must not care.
    Window 1 and sink 1 are the smallest masks (each query sees itself and the first key)."""
    generator = torch.Generator().manual_seed(5)
    q = torch.randn(2, 3, 4, 32, generator=generator).to(DEVICE).transpose(1, 2)  # (b h n d), not contiguous
    k, v = (torch.randn(2, 2, 40, 32, generator=generator).to(DEVICE) for _ in range(2))
    lengths = torch.tensor([40, 17], device=DEVICE)
    for spec in (MaskSpec(), MaskSpec(sink=1, window=1)):
        assert_matches(decode_attention_triton(q, k, v, lengths, spec), q, k, v, spec, torch.float32,
                       key_lengths=lengths)
        q_prefill, k_prefill, v_prefill = q[:1], k[:1, :, :3], v[:1, :, :3]
        assert_matches(prefill_attention(q_prefill, k_prefill, v_prefill, spec), q_prefill, k_prefill, v_prefill,
                       spec, torch.float32)


@pytest.mark.parametrize("max_block_r", [16, None])  # 16: several row blocks at interpreter-sized shapes
def test_decode_splits_many_rows_of_a_group_into_blocks(monkeypatch, max_block_r):
    """A group's (query head, new token) rows past `MAX_BLOCK_R` go to further programs: 4 heads per
    key/value head and 17 new tokens (a Jacobi pass) are 68 rows, 2 blocks of 64 or 5 of 16."""
    import arvid.kernels.decode as decode

    if max_block_r is not None:
        monkeypatch.setattr(decode, "MAX_BLOCK_R", max_block_r)
    assert decode._row_blocks(4 * 17) == ((16, 5) if max_block_r == 16 else (64, 2))
    q, k, v = random_qkv(2, 4, 1, 17, 50, 32, torch.float32, seed=11)
    lengths = torch.tensor([50, 23], device=DEVICE)
    for spec in (MaskSpec(), MASKS["sink_window"]):
        assert_matches(decode_attention_triton(q, k, v, lengths, spec), q, k, v, spec, torch.float32,
                       key_lengths=lengths)


def test_decode_reads_strided_int32_lengths_by_value():
    """Lengths already int32 reach the kernel as they are: a strided view (here every other element)
    must be read by value, not as if its elements were adjacent."""
    q, k, v = random_qkv(3, 2, 1, 1, 40, 32, torch.float32, seed=9)
    lengths = torch.tensor([10, 0, 20, 0, 30, 0], dtype=torch.int32, device=DEVICE)[::2]
    result = decode_attention_triton(q, k, v, lengths, MaskSpec())
    assert_matches(result, q, k, v, MaskSpec(), torch.float32, key_lengths=lengths.long())


def test_reference_reads_lengths_past_the_keys_as_all_keys_and_wants_heads_on_one_device():
    """The explicit reference and the SDPA path read a length past m as m, as the kernels do."""
    from arvid.kernels.reference import sdpa_attention

    q, k, v = random_qkv(1, 1, 1, 2, 4, 32, torch.float32, seed=2, device="cpu")
    for path in (lambda lengths: reference_attention(q, k, v, MaskSpec(), key_lengths=lengths).out,
                 lambda lengths: sdpa_attention(q, k, v, MaskSpec(), key_lengths=lengths)):
        assert (path(torch.tensor([6])) - path(torch.tensor([4]))).abs().max() < 1e-6
    with pytest.raises(ValueError, match="no key/value heads"):
        reference_attention(q, k[:, :0], v[:, :0], MaskSpec())
    with pytest.raises(ValueError, match="one device"):
        attention(q, k.to("meta"), v.to("meta"), MaskSpec())


def test_compiled_single_query_decode_keeps_float32_scores_and_zeros_for_an_empty_row():
    """The compiled CPU decode (broadcast products) agrees with the eager path: a row with no valid
    slot gets zeros (not a softmax's NaN), and bfloat16 caches are scored in float32."""
    from arvid.kernels.reference import single_query_attention

    compiled = torch.compile(single_query_attention, fullgraph=True, dynamic=False)
    q, k, v = random_qkv(2, 4, 2, 1, 30, 32, torch.float32, seed=4, device="cpu")
    lengths = torch.tensor([0, 5])
    out = compiled(q, k, v, lengths)
    assert torch.equal(out[0], torch.zeros_like(out[0]))
    assert (out[1:] - single_query_attention(q, k, v, lengths)[1:]).abs().max() < 1e-5
    q, k, v = (3 * t.bfloat16() for t in (q, k, v))  # large scores: bf16 rounding of them shows
    lengths = torch.tensor([30, 30])
    expected = reference_attention(q.double(), k.double(), v.double(), MaskSpec(), key_lengths=lengths).out
    assert (compiled(q, k, v, lengths).double() - expected).abs().max() < 0.02


@pytest.mark.parametrize("kv_heads", [4, 2, 1])
def test_cpu_single_query_decode_matches_float64_reference(kv_heads):
    """The CPU decode path (one new token per row, caches of 37 slots, a different valid length per
    row) against the explicit float64 reference, with grouped-query heads."""
    from arvid.kernels.reference import single_query_attention

    q, k, v = random_qkv(3, 4, kv_heads, 1, 37, 32, torch.float32, seed=kv_heads, device="cpu")
    lengths = torch.tensor([37, 1, 20])
    expected = reference_attention(q.double(), k.double(), v.double(), MaskSpec(prefix_len=5), key_lengths=lengths).out
    for result in (single_query_attention(q, k, v, lengths), decode_attention(q, k, v, lengths, MaskSpec(prefix_len=5))):
        assert result.shape == q.shape and (result.double() - expected).abs().max() < TOLERANCE[torch.float32]
    with pytest.raises(ValueError, match="one query"):
        single_query_attention(torch.cat([q, q], dim=2), k, v, lengths)


def test_dispatch_follows_the_environment(monkeypatch):
    q, k, v = random_qkv(1, 2, 2, 9, 9, 32, torch.float32, seed=0)
    monkeypatch.setenv("ARVID_ATTENTION", "reference")  # on CUDA tensors "auto" would already pick Triton
    reference = attention(q, k, v, MaskSpec())
    monkeypatch.setenv("ARVID_ATTENTION", "triton")
    forced = attention(q, k, v, MaskSpec())
    assert (forced - reference).abs().max() < TOLERANCE[torch.float32]
    lengths = torch.tensor([9], device=DEVICE)
    assert (decode_attention(q[:, :, -1:], k, v, lengths, MaskSpec()) - reference[:, :, -1:]).abs().max() < 1e-5
    with pytest.raises(ValueError, match="head dims"):
        attention(q[..., :24].contiguous(), k[..., :24].contiguous(), v[..., :24].contiguous(), MaskSpec())
    with pytest.raises(ValueError, match="supports"):
        attention(q.double(), k.double(), v.double(), MaskSpec())
    monkeypatch.setenv("ARVID_ATTENTION", "cuda-please")
    with pytest.raises(ValueError, match="ARVID_ATTENTION"):
        attention(q, k, v, MaskSpec())


def test_auto_on_cpu_uses_the_reference_and_gradients_never_reach_triton(monkeypatch):
    import arvid.kernels.dispatch as dispatch

    q, k, v = random_qkv(1, 2, 2, 9, 9, 32, torch.float32, seed=0, device="cpu")
    assert not dispatch.use_triton(q, k, v)  # auto + CPU
    monkeypatch.setenv("ARVID_ATTENTION", "triton")
    q.requires_grad_(True)
    dispatch._warned.clear()
    with pytest.warns(dispatch.AttentionFallbackWarning, match="no backward"):  # arvid's: one line in a command
        assert not dispatch.use_triton(q, k, v)
    attention(q, k, v, MaskSpec()).sum().backward()
    assert q.grad is not None


def test_a_fallback_is_said_once_a_reason_not_once_a_shape(monkeypatch):
    """A model whose head dim the kernels lack falls back on every call (`use_triton` on a CUDA
    tensor under "auto"): one warning, though the message's shape changes with each prefill length."""
    import types
    import warnings

    import arvid.kernels.dispatch as dispatch
    import arvid.kernels.prefill as prefill

    def unsupported(q, k, v):
        raise ValueError(f"Triton attention supports head dims (32, 64, 128), got 48 (shape {q.shape})")

    monkeypatch.setattr(dispatch, "_warned", set())
    monkeypatch.setattr(dispatch, "requested_backend", lambda: "auto")
    monkeypatch.setattr(prefill, "check_supported", unsupported)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        for length in (5, 9):  # stand-ins for CUDA tensors: this test runs without a GPU
            cuda = types.SimpleNamespace(device=torch.device("cuda"), requires_grad=False, shape=(1, 4, length, 48))
            assert not dispatch.use_triton(cuda, cuda, cuda)
    assert len(caught) == 1 and caught[0].category is dispatch.AttentionFallbackWarning
    assert "head dims" in str(caught[0].message)


def test_compiled_code_takes_the_reference_even_where_triton_is_forced(monkeypatch):
    """Under `torch.compile` (fullgraph) the dispatch never reaches the kernels' launch code, which
    would have to trace: the compiled decode attention equals the eager reference."""
    monkeypatch.setenv("ARVID_ATTENTION", "triton")
    q, k, v = random_qkv(2, 4, 2, 1, 12, 32, torch.float32, seed=3, device="cpu")
    lengths = torch.tensor([12, 5])
    compiled = torch.compile(lambda *a: decode_attention(*a, MaskSpec()), fullgraph=True, dynamic=False)
    monkeypatch.setenv("ARVID_ATTENTION", "reference")
    expected = decode_attention(q, k, v, lengths, MaskSpec())
    monkeypatch.setenv("ARVID_ATTENTION", "triton")
    assert (compiled(q, k, v, lengths) - expected).abs().max() < 1e-5


@pytest.mark.parametrize("backend", ["reference", "triton"])
def test_both_paths_refuse_the_same_bad_inputs(monkeypatch, backend):
    """More queries than keys, and key lengths of the wrong shape or type, are `ValueError`s on either
    path (the reference's masks would otherwise be silently wrong); lengths past the cache read it all."""
    monkeypatch.setenv("ARVID_ATTENTION", backend)
    q, k, v = random_qkv(2, 2, 2, 9, 8, 32, torch.float32, seed=0)
    with pytest.raises(ValueError, match="more queries"):
        attention(q, k, v, MaskSpec())
    one = q[:, :, -1:]
    for lengths in (torch.tensor([8]), torch.tensor([[8], [8]]), torch.tensor([8.0, 8.0]), [8, 8]):
        with pytest.raises(ValueError, match="key_lengths as an integer tensor of shape"):
            decode_attention(one, k, v, lengths, MaskSpec())
    with pytest.raises(ValueError, match="key_lengths as an integer tensor of shape"):
        decode_attention(one, k, v, torch.tensor([True, True]), MaskSpec())
    for queries, spec in ((1, MaskSpec()), (2, MaskSpec()), (1, MaskSpec(window=4))):
        new = q[:, :, -queries:]
        past = decode_attention(new, k, v, torch.tensor([20, 8], device=DEVICE), spec)
        assert (past - decode_attention(new, k, v, torch.tensor([8, 8], device=DEVICE), spec)).abs().max() < 1e-6


def test_the_interpreter_refuses_bfloat16_and_a_missing_triton_is_an_import_error(monkeypatch):
    """Under TRITON_INTERPRET=1, bfloat16 (whose dots the interpreter gets wrong) is refused rather than
    computed wrong; forcing Triton where it cannot be imported says so. (Without forcing, CUDA tensors
    then fall back to the reference with a warning: no CUDA here to show it.)"""
    import sys

    from arvid.kernels.prefill import check_supported

    monkeypatch.setenv("TRITON_INTERPRET", "1")
    q, k, v = random_qkv(1, 2, 2, 4, 4, 32, torch.bfloat16, seed=0, device="cpu")
    with pytest.raises(ValueError, match="interpreter mishandles bfloat16"):
        check_supported(q, k, v)
    monkeypatch.setitem(sys.modules, "arvid.kernels.prefill", None)  # as if triton failed to import
    monkeypatch.setenv("ARVID_ATTENTION", "triton")
    with pytest.raises(ImportError):
        attention(q.float(), k.float(), v.float(), MaskSpec())


def test_lm_cache_and_llama_parity_on_the_triton_path(monkeypatch):
    """The LM's own checks with every attention call forced through the kernels (head dim 32)."""
    from lm_fixtures import tiny_config

    from arvid.kernels import CAUSAL
    from arvid.lm.hf import to_hf
    from arvid.lm.model import Transformer

    torch.manual_seed(0)
    model = Transformer(tiny_config(dim=64, n_heads=2, n_kv_heads=1, bidirectional_prefix=False)).eval()
    hf_model = to_hf(model).model.to(DEVICE)
    model.to(DEVICE)
    config = model.config
    tokens = torch.randint(0, config.vocab_size, (2, config.prefix_len + 6)).to(DEVICE)
    embeddings = torch.randn(1, 19, config.dim).to(DEVICE)
    monkeypatch.setenv("ARVID_ATTENTION", "reference")  # on CUDA tensors "auto" would already pick Triton
    with torch.no_grad():
        full_reference = model(tokens)
        llama = hf_model(inputs_embeds=embeddings, position_ids=torch.arange(19, device=DEVICE)[None]).last_hidden_state
    monkeypatch.setenv("ARVID_ATTENTION", "triton")
    with torch.no_grad():
        full = model(tokens)
        assert (model.backbone(embeddings, CAUSAL) - llama).abs().max() < 1e-4
    assert (full - full_reference).abs().max() < 1e-4
    model.setup_cache(batch=2, max_len=tokens.shape[1])
    steps = [model.prefill(tokens[:, :config.prefix_len], torch.arange(config.prefix_len))]
    for position in range(config.prefix_len, tokens.shape[1]):
        steps.append(model.decode(tokens[:, position:position + 1], torch.tensor([position])))
    assert (torch.cat(steps, dim=1) - full).abs().max() < 1e-4
