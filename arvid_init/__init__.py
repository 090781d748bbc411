"""arvid: autoregressive video generation.

Subpackages: `arvid.tokenizer` (causal 3D VQ tokenizer), `arvid.lm` (decoder-only transformer),
`arvid.kernels` (attention kernels), `arvid.sampling` (streaming sampler), `arvid.data`
(video I/O and the synthetic shapes world), `arvid.tools` (the `arvid` command).
"""

__version__ = "0.1.0"
