"""Where a tokenizer loses small objects' shape: in its codes, or in its decoder.

Small objects (12 px across in a 64 x 64 frame) are where the tiny tokenizer's shape errors are.
Two measurements, each on the shapes world:

- `reconstructions`: render one clip per small-object prompt of the evaluation set (192), pass it
  through the tokenizer and read the shape back with the shapes detector; counts per shape and
  per background.
- `probe`: fit a small MLP that tells circle from square using only the FSQ digits of the 4 x 4
  latent cells around the object (one frame each, 3,000 to train, 600 new ones to test). If the
  probe is right where the reconstructions are wrong, the codes hold the shape and the decoder
  does not draw it.

    python scripts/small_shapes.py [--tokenizer DIR] [--probe]   # the shipped tokenizer by default
"""

from __future__ import annotations

import argparse
import collections

import numpy as np
import torch

from arvid.shapes.detector import detect
from arvid.shapes.world import COLOURS, ShapeAttributes, allowed_backgrounds, render
from arvid.lm.code_digits import code_digits, tokenizer_code_levels
from arvid.shapes.prompt_match import evaluation_prompts
from arvid.tokenizer.evaluate import reconstruct
from arvid.tokenizer.model import VideoTokenizer, frames_to_video
from arvid.tools.checkpoints import load_tokenizer

CELL_WINDOW = 4  # latent cells on a side around the object: a 12 px object spans 2 or 3 of 8 px


def reconstructions(tokenizer: VideoTokenizer) -> dict[str, collections.Counter]:
    """Shape read right / seen, per shape and per background, over the small-object prompts."""
    frames = tokenizer.video_frames(tokenizer.latent_frames_for(16))
    right, seen = collections.Counter(), collections.Counter()
    prompts = [p for p in evaluation_prompts("all", per_combination=1, seed=0) if p.attrs.size == "small"]
    for index, prompt in enumerate(prompts):
        video = render(prompt.attrs, frames=frames, seed=index).video
        shape = detect(reconstruct(tokenizer, video).frames[:16]).attributes()["shape"]
        for key in (prompt.attrs.shape, prompt.attrs.background):
            seen[key] += 1
            right[key] += shape == prompt.attrs.shape
    return {"right": right, "seen": seen}


def _probe_examples(tokenizer: VideoTokenizer, backgrounds: tuple[str, ...], size: str, count: int,
                    seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Features (count, 16 cells x digits x levels one-hot + 2 offsets) and labels (count,): 0 circle, 1 square."""
    levels = tokenizer_code_levels(tokenizer.config.quantizer, tokenizer.config.fsq_levels,
                                   tokenizer.config.codebook_bits)
    digits = code_digits(levels)  # (codebook, digits)
    rng = np.random.default_rng(seed)
    features, labels = [], []
    for index in range(count):
        background = backgrounds[rng.integers(len(backgrounds))]
        colours = [c for c in COLOURS if background in allowed_backgrounds(c)]
        attrs = ShapeAttributes(shape=("circle", "square")[index % 2], colour=colours[rng.integers(len(colours))],
                                size=size, direction="right", speed="slow", background=background)
        clip = render(attrs, frames=1, seed=int(rng.integers(1 << 30)))
        with torch.no_grad():
            codes = tokenizer.encode(frames_to_video(clip.video))[0, 0]  # (h', w')
        cell = tokenizer.config.spatial_factor
        x, y = clip.positions[0] / cell
        left = int(np.clip(round(x) - CELL_WINDOW // 2, 0, codes.shape[1] - CELL_WINDOW))
        top = int(np.clip(round(y) - CELL_WINDOW // 2, 0, codes.shape[0] - CELL_WINDOW))
        window = digits[codes[top:top + CELL_WINDOW, left:left + CELL_WINDOW].flatten()]
        one_hot = torch.nn.functional.one_hot(window, max(levels)).float().flatten()
        offset = torch.tensor([x - left, y - top], dtype=torch.float32) / CELL_WINDOW
        features.append(torch.cat([one_hot, offset]))
        labels.append(index % 2)
    return torch.stack(features), torch.tensor(labels)


def probe(tokenizer: VideoTokenizer, backgrounds: tuple[str, ...], size: str, *, train: int = 3000,
          test: int = 600) -> float:
    """Test accuracy of an MLP (256 hidden units) telling circle from square from the codes alone."""
    train_x, train_y = _probe_examples(tokenizer, backgrounds, size, train, seed=1)
    test_x, test_y = _probe_examples(tokenizer, backgrounds, size, test, seed=2)
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(train_x.shape[1], 256), torch.nn.ReLU(), torch.nn.Linear(256, 2))
    optimizer = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-2)
    for _ in range(600):  # full-batch steps: the training set is small
        loss = torch.nn.functional.cross_entropy(net(train_x), train_y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():
        return (net(test_x).argmax(dim=1) == test_y).float().mean().item()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokenizer", metavar="DIR", default=None,
                        help="tokenizer folder, or a model folder holding tokenizer/ (default: the shipped one)")
    parser.add_argument("--probe", action="store_true", help="also probe the codes (about 3 min on 1 thread)")
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tokenizer = load_tokenizer(args.tokenizer, "cpu")  # the probe's tensors are made on the CPU
    counts = reconstructions(tokenizer)
    print("small objects' shape read right after the tokenizer:")
    for key, seen in counts["seen"].items():
        print(f"  {key:>9}: {counts['right'][key]}/{seen}")
    shapes = ("circle", "square", "triangle")
    right, seen = (sum(counts[kind][shape] for shape in shapes) for kind in ("right", "seen"))
    print(f"  all: {right}/{seen} ({100 * right / seen:.1f}%)")
    if args.probe:
        for name, backgrounds, size in (("small, black or navy", ("black", "navy"), "small"),
                                        ("small, gray or white", ("gray", "white"), "small"),
                                        ("large, black or navy", ("black", "navy"), "large")):
            print(f"probe on the codes, circle vs square, {name}: {probe(tokenizer, backgrounds, size):.3f}")


if __name__ == "__main__":
    main()
