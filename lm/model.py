"""The video LM: a Llama-style decoder (RMSNorm, SwiGLU, rotary embeddings, grouped-query attention).

Module and parameter names follow `transformers`' `LlamaForCausalLM`, so `arvid.lm.hf` converts
checkpoints by renaming nothing. Of the two optional parts Llama lacks, `embed_grid` makes export
refuse, and `code_digits` is folded into the embedding on export (`input_embedding`).
Entry points, one per mode:

- `forward(tokens, text)` for training: logits of a whole sequence from position 0;
- `setup_cache(batch, max_len)`, then `prefill(tokens, positions, text)` and `decode(tokens, positions)`
  for inference over a static KV cache (slot = position).

`text` is the text prefix's encoder states for an LM with a text encoder (`arvid.lm.text_encoder`):
projected by `text_proj`, they replace the input embeddings of the text slots they fill. Without
them (None) the tokens alone are the input, as for a sentencepiece LM. Its `text_proj` is the other
part Llama lacks, so such a model does not export either.

A sliding window cannot be made exactly by dropping old keys from the cache: from the second layer
on, the cached keys of the tokens that stay were computed while attending to the dropped ones. The
streaming sampler therefore prefills the shortened sequence afresh when its window moves, unless
asked to roll the cache (`shift_cache`), which accepts that approximation.

Einops legend: b batch, n tokens, d model width, h query heads, g key/value heads, e head dim,
v vocabulary.
"""

from __future__ import annotations

from collections.abc import Callable
from numbers import Integral

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from einops import rearrange
from torch import Tensor, nn

from arvid.kernels import MaskSpec, attention, decode_attention
from arvid.lm.cache import CacheState, KVCache
from arvid.lm.code_digits import CodeDigits
from arvid.lm.config import PREFIX_SPECIALS, TEXT_START, LMConfig
from arvid.lm.rope import apply_rope, rope_tables
from arvid.lm.text_encoder import TextStates


# Up to this many rows (tokens x batch), a compiled linear layer is written as a broadcast product
# and a sum rather than a matrix multiply. See `project`. 8 covers the four first-window candidates
# under guidance, where the library multiply repacks each weight every call (a step 1.13-1.16 times
# as long: docs/results/streaming_and_speed.md).
FEW_ROWS = 8
# ... and their output rows are summed in this many groups at once: the step takes 0.85 of the time
# at one thread and 0.86-0.98 at two against one group; 8 no better (docs/results/streaming_and_speed.md).
PROJECT_ROW_GROUPS = 4


def project(x: Tensor, layer: nn.Linear) -> Tensor:
    """`layer(x)` for a bias-free linear layer: (..., in) -> (..., out).

    Under `torch.compile`, and for a decode step's few rows, as `(x * weight).sum(-1)` over
    `PROJECT_ROW_GROUPS` groups of the weight's rows: inductor turns that into one vectorised C++ loop
    in place of a library call per layer (a quarter less time a step for the tiny preset). Input rows
    are its outer loop, so each row re-reads the weight; the weight-outer form was tried and is 8x
    slower at 2 rows inside the whole step (docs/results/streaming_and_speed.md). Eager code, larger
    inputs and GPUs keep the library multiply.
    """
    if torch.compiler.is_compiling() and x.device.type == "cpu" and x[..., 0].numel() <= FEW_ROWS:
        weight = layer.weight
        size = weight.shape[0] // PROJECT_ROW_GROUPS
        if size == 0:
            return (x[..., None, :] * weight).sum(-1)
        # Sums of the same shape that read the same input fuse into one loop, a sum of each group's at
        # once: PROJECT_ROW_GROUPS independent chains of multiply-adds where one sum a row waited on the last.
        groups = [weight[start:start + size] for start in range(0, size * PROJECT_ROW_GROUPS, size)]
        rest = weight[size * PROJECT_ROW_GROUPS:]
        return torch.cat([(x[..., None, :] * rows).sum(-1) for rows in [*groups, rest] if len(rows)], -1)
    return layer(x)


class RMSNorm(nn.Module):
    """Root-mean-square norm over the last dim, computed in float32 as Llama does."""

    def __init__(self, dim: int, eps: float) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: Tensor) -> Tensor:
        normed = x.float() * torch.rsqrt(x.float().pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * normed.to(x.dtype)


class FeedForward(nn.Module):
    """SwiGLU: down(silu(gate(x)) * up(x)); (b n d) -> (b n d)."""

    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(config.dim, config.ffn_dim, bias=False)
        self.up_proj = nn.Linear(config.dim, config.ffn_dim, bias=False)
        self.down_proj = nn.Linear(config.ffn_dim, config.dim, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        return project(F.silu(project(x, self.gate_proj)) * project(x, self.up_proj), self.down_proj)


class Attention(nn.Module):
    """Multi-head attention with rotary embeddings and optional grouped-query heads."""

    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.config = config
        e = config.head_dim
        self.q_proj = nn.Linear(config.dim, config.n_heads * e, bias=False)
        self.k_proj = nn.Linear(config.dim, config.n_kv_heads * e, bias=False)
        self.v_proj = nn.Linear(config.dim, config.n_kv_heads * e, bias=False)
        self.o_proj = nn.Linear(config.n_heads * e, config.dim, bias=False)
        self.cache: KVCache | None = None

    def _project(self, x: Tensor, cos: Tensor, sin: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        q = rearrange(project(x, self.q_proj), "b n (h e) -> b h n e", e=self.config.head_dim)
        k = rearrange(project(x, self.k_proj), "b n (g e) -> b g n e", e=self.config.head_dim)
        v = rearrange(project(x, self.v_proj), "b n (g e) -> b g n e", e=self.config.head_dim)
        return apply_rope(q, cos, sin), apply_rope(k, cos, sin), v

    def forward(self, x: Tensor, cos: Tensor, sin: Tensor, spec: MaskSpec) -> Tensor:
        """Whole sequence from position 0: (b n d) -> (b n d)."""
        q, k, v = self._project(x, cos, sin)
        return self.o_proj(rearrange(attention(q, k, v, spec), "b h n e -> b n (h e)"))

    def prefill(self, x: Tensor, positions: Tensor, cos: Tensor, sin: Tensor, spec: MaskSpec) -> Tensor:
        """Tokens at positions 0..n-1 into an empty cache: (b n d) -> (b n d)."""
        q, k, v = self._project(x, cos, sin)
        self.cache.write(positions, k, v)
        return self.o_proj(rearrange(attention(q, k, v, spec), "b h n e -> b n (h e)"))

    def decode(self, x: Tensor, positions: Tensor, cos: Tensor, sin: Tensor, spec: MaskSpec) -> Tensor:
        """New tokens at `positions` (the next ones after the cached tokens): (b n d) -> (b n d)."""
        q, k, v = self._project(x, cos, sin)
        self.cache.write(positions, k, v)
        lengths = (positions[-1] + 1).expand(x.shape[0])
        out = decode_attention(q, self.cache.keys, self.cache.values, lengths, spec)
        return project(rearrange(out, "b h n e -> b n (h e)"), self.o_proj)


class Block(nn.Module):
    """Pre-norm Llama block: x + attn(norm(x)), then + mlp(norm(x))."""

    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.input_layernorm = RMSNorm(config.dim, config.norm_eps)
        self.self_attn = Attention(config)
        self.post_attention_layernorm = RMSNorm(config.dim, config.norm_eps)
        self.mlp = FeedForward(config)

    def forward(self, x: Tensor, attend: Callable[[Attention, Tensor], Tensor]) -> Tensor:
        """(b n d) -> (b n d); `attend(attention, normed_x)` runs the attention in the caller's mode."""
        x = x + attend(self.self_attn, self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class GridPositions(nn.Module):
    """Learned embeddings of the latent grid cell that the input at each position predicts.

    The input at position p predicts the token at p + 1; when that is a video code in slot
    s = p + 1 - prefix_len, its embedding is frame(s // tokens_per_frame) + row + column of the
    cell. Every other position (text prefix, end tokens) gets zeros. Telling each step which cell
    it writes, rather than which one it read, also covers [BOV], whose next token is the first code.
    Positions, not tokens, decide the cells, so the streaming window's contiguous numbering holds.
    The positions are those of a sequence whose prefix is `config.prefix_len` long: a longer
    prefix (a long prompt through a text encoder) shifts them back by its extra length.
    """

    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        rows, frame_width = config.frame_shape
        slots = (1 + config.window_frames) * config.tokens_per_frame
        self.frame = nn.Embedding(1 + config.window_frames, config.dim)
        self.row = nn.Embedding(rows, config.dim)
        self.column = nn.Embedding(frame_width, config.dim)
        # The cell of every position a sequence can have, as a table (4, max_seq_len): frame, row,
        # column, inside (0 or 1). A lookup rather than the arithmetic at run time, because inductor
        # (torch 2.13) fails to compile the training step's floor divisions and modulos of an arange
        # ("vr must not be None"); not saved with the weights, as the config alone decides it.
        slot = torch.arange(config.max_seq_len) + 1 - config.prefix_len  # the video slot each input writes
        inside = (slot >= 0) & (slot < slots)
        slot = slot.clamp(0, slots - 1)
        cell = slot % config.tokens_per_frame
        cells = torch.stack([slot // config.tokens_per_frame, cell // frame_width, cell % frame_width, inside.long()])
        self.register_buffer("cells", cells, persistent=False)

    def forward(self, positions: Tensor) -> Tensor:
        """Positions (n) int64, each below `config.max_seq_len` -> embeddings (n d)."""
        frame, row, column, inside = self.cells[:, positions]
        embedding = self.frame(frame) + self.row(row) + self.column(column)
        return embedding * inside[:, None].to(embedding.dtype)


class Transformer(nn.Module):
    """Decoder-only LM over `config.vocab_size` tokens; see the module docstring for the modes."""

    def __init__(self, config: LMConfig) -> None:
        super().__init__()
        self.config = config
        self.embed_tokens = nn.Embedding(config.vocab_size, config.dim)
        self.embed_grid = GridPositions(config) if config.grid_positions else None
        self.layers = nn.ModuleList([Block(config) for _ in range(config.n_layers)])
        self.norm = RMSNorm(config.dim, config.norm_eps)
        self.lm_head = nn.Linear(config.dim, config.vocab_size, bias=False)
        self.code_digits = (None if config.code_levels is None else CodeDigits(
            config.code_levels, video_offset=config.vocab_size - config.video_vocab_size, dim=config.dim))
        if config.text_encoder is not None and config.text_encoder_dim is None:
            raise ValueError(f"text_encoder_dim is not set: give the width of the text encoder {config.text_encoder!r}"
                             f" (the trainer reads it from the encoder)")
        # The text encoder's states -> the model's width; the encoder itself lives outside the model, frozen.
        self.text_proj = (None if config.text_encoder is None else
                          nn.Linear(config.text_encoder_dim, config.dim, bias=False))
        self.apply(self._init_weights)
        # Zero at first, so that an LM grown from one without it starts out computing the same logits.
        self.onset_embedding = nn.Parameter(torch.zeros(config.dim)) if config.prompt_onset else None
        # Bidirectional over the text prefix and causal after it (or causal throughout, see `LMConfig`).
        self.mask = self._prefix_mask(config.prefix_len)
        self._rope_cache: tuple[Tensor, Tensor] | None = None
        self._position_ids: Tensor | None = None  # 0..max_len-1 on the weights' device: `positions`
        # How far the cached sequence's prefix is longer than `config.prefix_len` (set by `prefill`).
        self._prefix_extra = 0
        # The `CacheState` that describes the cache now, when one was taken or restored since the
        # cache last changed (`setup_cache`, `prefill`); a plain attribute, read once a token.
        self._active_state: CacheState | None = None
        # Training memory (`train.activation_checkpointing`, set by `arvid.lm.parallel.parallelize`):
        # each block's activations are not kept for the backward pass but made again there.
        self.checkpoint_blocks = False

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        # Llama's initializer_range 0.02 for every linear and embedding weight.
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)

    def input_embedding(self) -> Tensor:
        """The token embedding table (vocab d) with the video codes' per-digit terms folded in
        (`code_levels`): what a plain Llama embedding needs to compute the same inputs."""
        weight = self.embed_tokens.weight
        if self.code_digits is None:
            return weight
        return weight + self.code_digits(torch.arange(len(weight), device=weight.device)).to(weight.dtype)

    def embed(self, tokens: Tensor, positions: Tensor, text: TextStates | None = None) -> Tensor:
        """Input embeddings of tokens (b n) at positions (n) -> (b n d): the token's, plus its
        digits' with `code_levels` and its grid cell's with `grid_positions`; the text slots that
        `text` fills take its projected states instead (see `prefix_len`). `positions` only pick
        the grid cells: they count as if the prefix were `config.prefix_len` long."""
        x = self.embed_tokens(tokens)
        if self.code_digits is not None:
            x = x + self.code_digits(tokens).to(x.dtype)
        if text is not None:
            x = self._place_text(x, text)
        return x if self.embed_grid is None else x + self.embed_grid(positions).to(x.dtype)

    def prefix_len(self, text: TextStates | None) -> int:
        """Tokens before the first video token of sequences whose text is `text`: `config.prefix_len`
        without text states, else the specials plus the states' slots (>= `config.text_tokens`).

        Raises:
            ValueError: text states for a model without a text encoder, of another width than the
                encoder's, with a mask of another shape, or fewer slots than `text_tokens`.
        """
        if text is None:
            return self.config.prefix_len
        if self.text_proj is None:
            raise ValueError("this LM has no text encoder: its text is sentencepiece pieces in the tokens")
        hidden, mask = text.hidden, text.mask
        if hidden.ndim != 3 or hidden.shape[-1] != self.text_proj.in_features or mask.shape != hidden.shape[:2]:
            raise ValueError(f"expected text states (b, n, {self.text_proj.in_features}) with a mask (b, n), got "
                             f"{tuple(hidden.shape)} and {tuple(mask.shape)}")
        if hidden.shape[1] < self.config.text_tokens:
            raise ValueError(f"text states fill {hidden.shape[1]} slots; this model's prefix has text_tokens="
                             f"{self.config.text_tokens} (pad them with arvid.lm.layout.pad_text)")
        return PREFIX_SPECIALS + hidden.shape[1]

    def _place_text(self, x: Tensor, text: TextStates) -> Tensor:
        """x (b n d) with the text slots that `text.mask` marks replaced by the projected states (plus
        the onset vector in the rows whose `text.onset` is set, for a `prompt_onset` LM)."""
        slots = text.hidden.shape[1]
        if x.shape[0] != text.hidden.shape[0] or x.shape[1] < TEXT_START + slots:
            raise ValueError(f"text states {tuple(text.hidden.shape[:2])} do not fit tokens {tuple(x.shape[:2])}")
        projected = self.text_proj(text.hidden.to(self.text_proj.weight.dtype)).to(x.dtype)
        if self.onset_embedding is not None and text.onset is not None:
            projected = projected + text.onset[:, None, None].to(x.dtype) * self.onset_embedding.to(x.dtype)
        inside = x[:, TEXT_START:TEXT_START + slots]
        return torch.cat([x[:, :TEXT_START], torch.where(text.mask[..., None], projected, inside),
                          x[:, TEXT_START + slots:]], dim=1)

    def _prefix_mask(self, prefix_len: int) -> MaskSpec:
        """Bidirectional over a prefix of `prefix_len` tokens and causal after it (causal throughout
        without `bidirectional_prefix`)."""
        return MaskSpec(prefix_len=prefix_len if self.config.bidirectional_prefix else 0)

    def _mask_and_cells(self, positions: Tensor, text: TextStates | None) -> tuple[MaskSpec, Tensor, int]:
        """For a sequence with text `text`: its mask, the positions that pick grid cells, and how much
        longer its prefix is than `config.prefix_len`. A sentencepiece LM's (and a text encoder's
        within `text_tokens`) are `self.mask` and `positions` themselves."""
        extra = self.prefix_len(text) - self.config.prefix_len
        if extra == 0:
            return self.mask, positions, 0
        return self._prefix_mask(self.config.prefix_len + extra), (positions - extra).clamp_min(0), extra

    def _cached_tables(self, positions: Tensor) -> tuple[Tensor, Tensor]:
        """Rows of the rotary tables that `setup_cache` computed once (inference only)."""
        return self._rope_cache[0][positions], self._rope_cache[1][positions]

    def backbone(self, embeddings: Tensor, spec: MaskSpec | None = None) -> Tensor:
        """Hidden states after the final norm, (b n d) -> (b n d), positions 0..n-1.
        This is what `transformers`' `LlamaModel` computes from `inputs_embeds` (with a causal `spec`).
        With `checkpoint_blocks` and gradients on, each block runs again in the backward pass instead
        of keeping its activations (the same values)."""
        spec = self.mask if spec is None else spec
        cos, sin = rope_tables(torch.arange(embeddings.shape[1], device=embeddings.device), self.config.head_dim,
                               self.config.rope_theta)
        x = embeddings

        def attend(attn: Attention, h: Tensor) -> Tensor:
            return attn(h, cos, sin, spec)

        recompute = self.checkpoint_blocks and torch.is_grad_enabled()
        for layer in self.layers:
            x = (torch.utils.checkpoint.checkpoint(layer, x, attend, use_reentrant=False) if recompute
                 else layer(x, attend))
        return self.norm(x)

    def forward(self, tokens: Tensor, text: TextStates | None = None, targets: Tensor | None = None) -> Tensor:
        """Training: tokens (b n) from position 0 -> logits (b n v) in the weights' dtype (under
        autocast, its); or, given `targets` (b n) int64 (-100 where a position is no target), their
        summed cross-entropy, a float32 scalar (`summed_cross_entropy`: the logits never all at
        once). `text`: the text slots' encoder states, hidden (b s d_enc) and mask (b s), s >=
        `text_tokens` (the tokens' text slots hold `<pad>`; a slot the mask leaves out keeps it).

        The loss is computed here, not by the caller, so that a wrapped model (DDP, FSDP) computes it
        inside its own forward."""
        positions = torch.arange(tokens.shape[1], device=tokens.device)
        spec, cells, _ = self._mask_and_cells(positions, text)
        hidden = self.backbone(self.embed(tokens, cells, text), spec)
        if targets is None:
            return self.lm_head(hidden)
        return summed_cross_entropy(hidden, self.lm_head, targets)

    def setup_cache(self, batch: int, max_len: int | None = None) -> None:
        """Allocate a static KV cache for `batch` sequences of at most `max_len` tokens
        (default `config.max_seq_len`) in the weights' dtype (the keys and values it will hold: for a
        bf16 cache, convert the model, as `--bf16-lm` does).

        Raises:
            ValueError: a `batch` or `max_len` that is not an int >= 1.
        """
        max_len = self.config.max_seq_len if max_len is None else max_len
        for name, value in (("batch", batch), ("max_len", max_len)):
            if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
                raise ValueError(f"{name} must be an int >= 1, got {value!r}")
        weight = self.lm_head.weight
        self._active_state = None
        table = torch.arange(max_len, device=weight.device)
        self._rope_cache = rope_tables(table, self.config.head_dim, self.config.rope_theta)
        if self._position_ids is None or self._position_ids.numel() < max_len or self._position_ids.device != table.device:
            self._position_ids = table  # `positions` slices it (kept when larger: a cache restored later may be)
        for layer in self.layers:
            layer.self_attn.cache = KVCache(batch=batch, kv_heads=self.config.n_kv_heads, max_len=max_len,
                                            head_dim=self.config.head_dim, dtype=weight.dtype,
                                            device=weight.device)

    def cache_state(self) -> CacheState:
        """The cache that `setup_cache` and `prefill` left, to put back later with `restore_cache`.

        Raises:
            RuntimeError: no cache was set up.
        """
        if self._rope_cache is None:
            raise RuntimeError("call setup_cache(batch, max_len) before cache_state")
        self._active_state = CacheState(tuple(layer.self_attn.cache for layer in self.layers), self._rope_cache,
                                        self._prefix_extra)
        return self._active_state

    def holds_cache(self, state: CacheState) -> bool:
        """Whether `state` is the cache the next decode step reads (as taken or last restored)."""
        return self._active_state is state

    def restore_cache(self, state: CacheState) -> None:
        """Make `state` (from `cache_state`) the cache again, as it was left: another user of this model
        may have set up its own since."""
        for layer, cache in zip(self.layers, state.caches, strict=True):
            layer.self_attn.cache = cache
        self._rope_cache, self._prefix_extra, self._active_state = state.rope, state.prefix_extra, state

    def release_cache(self, state: CacheState) -> None:
        """Let go of the KV cache if `state` is the one in use (a stream that has ended): its memory
        (on a GPU, the largest part of a stream's) is freed now, not at the next `setup_cache`. Another
        user's state is left as it is; a later `prefill` or `decode` needs `setup_cache` (or
        `restore_cache`) first."""
        if not self.holds_cache(state):
            return
        for layer in self.layers:
            layer.self_attn.cache = None
        self._rope_cache, self._active_state = None, None

    @torch.no_grad()
    def shift_cache(self, start: int, stop: int, by: int) -> None:
        """Move every layer's cached keys and values of positions [start, stop) to [start - by, stop - by),
        the keys rotated back by `by` positions, as if those tokens had been cached there (exact for
        the rotary part; what they attended to when cached stays as it was). Slots from stop - by on
        are free for the next tokens.

        Raises:
            ValueError: a range outside the cache, or a shift that is not positive.
        """
        cache = self.layers[0].self_attn.cache
        if cache is None:
            raise RuntimeError("call setup_cache(batch, max_len) before shift_cache")
        if not (0 < by <= start <= stop <= cache.max_len):
            raise ValueError(f"cannot shift positions [{start}, {stop}) back by {by} in a cache of {cache.max_len}")
        # A rotation by -by composes with the cached rotation by p into one by p - by.
        cos, sin = rope_tables(torch.tensor([-by], device=cache.keys.device), self.config.head_dim,
                               self.config.rope_theta)
        for layer in self.layers:
            cache = layer.self_attn.cache
            cache.keys[:, :, start - by:stop - by] = apply_rope(cache.keys[:, :, start:stop], cos, sin)
            cache.values[:, :, start - by:stop - by] = cache.values[:, :, start:stop].clone()

    def positions(self, start: int, count: int = 1) -> Tensor:
        """Positions start..start + count - 1, (count,) int64 on the weights' device, for `prefill` and
        `decode`: a view of a table kept there, so that a generated token brings no host-to-device copy
        (on a GPU such a copy waits for everything queued before it). Checked against the cache here,
        on the host.

        Raises:
            RuntimeError: no cache set up. ValueError: positions outside the cache's slots.
        """
        cache = self.layers[0].self_attn.cache
        if cache is None:
            raise RuntimeError("call setup_cache(batch, max_len) before prefill or decode")
        if start < 0 or count < 1 or start + count > cache.max_len:
            raise ValueError(f"positions {start} to {start + count - 1} are outside the cache's {cache.max_len} slots")
        device = self.lm_head.weight.device
        table = self._position_ids
        if table is None or table.numel() < cache.max_len or table.device != device:
            self._position_ids = table = torch.arange(cache.max_len, device=device)
        return table[start:start + count]

    def _check_cache(self, tokens: Tensor, positions: Tensor) -> None:
        cache = self.layers[0].self_attn.cache
        if cache is None:
            raise RuntimeError("call setup_cache(batch, max_len) before prefill or decode")
        if not isinstance(tokens, Tensor) or not isinstance(positions, Tensor):
            raise TypeError(f"expected tensors: tokens (b, n) and positions (n,), got {type(tokens).__name__} and "
                            f"{type(positions).__name__} (positions as torch.tensor([30]) for one)")
        if tokens.ndim != 2 or positions.ndim != 1 or tokens.shape[1] != positions.shape[0]:
            raise ValueError(f"expected tokens (b, n) and positions (n,), got {tuple(tokens.shape)} and "
                             f"{tuple(positions.shape)}")
        if tokens.shape[0] != cache.keys.shape[0]:
            raise ValueError(f"the cache was set up for batch {cache.keys.shape[0]}, got {tokens.shape[0]}")
        # Positions on another device than the CPU came from `positions`, which checked them; reading
        # one back here would wait for the device.
        if positions.device.type == "cpu" and int(positions[-1]) >= cache.max_len:
            raise ValueError(f"position {int(positions[-1])} is past the cache's {cache.max_len} slots")

    @torch.no_grad()
    def prefill(self, tokens: Tensor, positions: Tensor, text: TextStates | None = None) -> Tensor:
        """Fill an empty cache with tokens (b n) at positions 0..n-1 -> logits (b n v); `text` as
        in `forward` (the cache remembers the prefix's length for `decode`). For an LM with a text
        encoder, `text` None leaves the text slots as the empty prompt's: unconditional (pass
        `VideoLM.prefixes(...).text` for the prompt)."""
        self._check_cache(tokens, positions)
        if positions.device.type == "cpu" and int(positions[0]) != 0:  # as `_check_cache` reads them
            raise ValueError("prefill starts at position 0; use decode for later tokens")
        positions = positions.to(tokens.device)
        spec, cells, self._prefix_extra = self._mask_and_cells(positions, text)
        self._active_state = None  # the prefix's length may have changed: a state taken before is stale
        cos, sin = self._cached_tables(positions)
        x = self.embed(tokens, cells, text)
        for layer in self.layers:
            x = layer(x, lambda attn, h: attn.prefill(h, positions, cos, sin, spec))
        return self.lm_head(self.norm(x))

    @torch.no_grad()
    def decode(self, tokens: Tensor, positions: Tensor) -> Tensor:
        """Next tokens (b n), usually n = 1, at `positions` right after the cached ones -> logits (b n v).
        Positions on the CPU are checked against the cache here; on another device, make them with
        `positions`, which checks them (reading them back from a GPU would wait for it)."""
        self._check_cache(tokens, positions)
        positions = positions.to(tokens.device)
        return self._decode_step(tokens, positions, self._cells(positions))

    def decode_unchecked(self, tokens: Tensor, positions: Tensor) -> Tensor:
        """`decode` without its checks and never through the compiled step, positions on the tokens'
        device: for code that compiles a loop of decode steps as one graph (`arvid.sampling.fused`)."""
        return self._step(tokens, positions, self._cells(positions))

    def _cells(self, positions: Tensor) -> Tensor:
        # The decoded tokens come after the prefix, so its length changes their mask in nothing,
        # only their grid cells.
        return positions if self._prefix_extra == 0 else (positions - self._prefix_extra).clamp_min(0)

    def _step(self, tokens: Tensor, positions: Tensor, cells: Tensor) -> Tensor:
        cos, sin = self._cached_tables(positions)
        x = self.embed(tokens, cells)
        for layer in self.layers:
            x = layer(x, lambda attn, h: attn.decode(h, positions, cos, sin, self.mask))
        return project(self.norm(x), self.lm_head)

    _decode_step = _step  # replaced on the instance by `compile_decode`

    @property
    def decode_is_compiled(self) -> bool:
        """Whether `compile_decode` was called."""
        return "_decode_step" in vars(self)

    def compile_decode(self) -> None:
        """Compile the decode step with `torch.compile` (the first calls after this are slow while it
        compiles; later ones skip most of Python's per-op overhead, which dominates small models).

        On CPU the generated code is called through inductor's C++ wrapper, which saves the Python
        wrapper's per-call cost (docs/results/streaming_and_speed.md), and the linear layers of the
        few-row step become fused loops (see `project`).
        `python benchmarks/lm_decode.py` measures the result against `transformers`."""
        self._decode_step = compile_for_inference(self._step, self)


# Logits the training loss holds at once: 2^27 float32 values, 512 MB. Below it the loss reads all
# logits in one product (the `tiny` preset's batch: 24M); above it, in chunks of positions.
LOSS_CHUNK_LOGITS = 2**27


def summed_cross_entropy(hidden: Tensor, head: nn.Linear, targets: Tensor) -> Tensor:
    """Summed cross-entropy of `head(hidden)` (hidden (b n d)) against `targets` (b n) int64, -100
    where a position is no target -> a float32 scalar.

    Where b x n x vocabulary exceeds `LOSS_CHUNK_LOGITS`, the logits are made a chunk of positions
    at a time and made again in the backward pass (activation checkpointing), so that no more than
    about `LOSS_CHUNK_LOGITS` of them exist at once: the `base` preset's 262,144 codes make 2.9G
    float32 logits for a batch of 8 (11.7 GB, twice that with their gradient) in one product."""
    batch, length, _ = hidden.shape
    chunk = max(1, LOSS_CHUNK_LOGITS // (batch * head.out_features))
    if chunk >= length:
        return _chunk_cross_entropy(hidden, head.weight, targets)
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, length, chunk):
        part = slice(start, start + chunk)
        total = total + torch.utils.checkpoint.checkpoint(_chunk_cross_entropy, hidden[:, part], head.weight,
                                                          targets[:, part], use_reentrant=False)
    return total


def _chunk_cross_entropy(hidden: Tensor, weight: Tensor, targets: Tensor) -> Tensor:
    logits = F.linear(hidden, weight)
    return F.cross_entropy(logits.float().flatten(0, 1), targets.flatten(), ignore_index=-100, reduction="sum")


# Graphs one compiled inference function may have before torch gives up (see `compile_for_inference`).
RECOMPILE_LIMIT = 64

# Inductor's settings for the CPU's generated code (docs/results/streaming_and_speed.md has the measure):
CPU_INFERENCE_OPTIONS = {
    # Python's per-call wrapper replaced by C++.
    "cpp_wrapper": True,
    # A value read by more than one computation and made from two or more inputs is stored once
    # instead of recomputed inside each reader's loop (inductor's default: from more than four).
    "realize_reads_threshold": 1,
    # Multiplies and adds contracted into fused multiply-adds (as in the library kernels the eager step calls).
    "cpp.enable_floating_point_contract_flag": "fast",
}


def compile_for_inference(function: Callable, model: nn.Module) -> Callable:
    """`torch.compile` of an inference function of `model` (a decode step, a run of them): whole
    graphs, static shapes, and on CPU `CPU_INFERENCE_OPTIONS` (inductor's C++ wrapper among them).

    Static shapes make one graph per cache shape (rows, prefix length) and sampling setting, and
    under `fullgraph` torch's default limit of 8 graphs a function makes the ninth a hard error (an
    evaluation in batches with long prompts reaches it); so this raises torch's process-wide
    `recompile_limit` to at least `RECOMPILE_LIMIT`."""
    torch._dynamo.config.recompile_limit = max(torch._dynamo.config.recompile_limit, RECOMPILE_LIMIT)
    options = CPU_INFERENCE_OPTIONS if next(model.parameters()).device.type == "cpu" else None
    return torch.compile(function, dynamic=False, fullgraph=True, options=options)
