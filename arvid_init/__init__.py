"""arvid: autoregressive video generation.

Subpackages: `arvid.tokenizer` (causal 3D VQ tokenizer), `arvid.lm` (decoder-only transformer),
`arvid.kernels` (attention kernels), `arvid.sampling` (streaming sampler), `arvid.data` (video
I/O, clip sources, token shards), `arvid.metrics`, `arvid.training` (the shared training loop),
`arvid.configs` (presets), `arvid.weights` (shipped models), `arvid.shapes` (the synthetic
evaluation world) and `arvid.tools` (the `arvid` command). The map: docs/design.md.
"""

__version__ = "0.1.0"
