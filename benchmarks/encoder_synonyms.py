"""Does a text encoder place the held-out paraphrase words near the training words of the same meaning?

    python benchmarks/encoder_synonyms.py [--encoder all-minilm-l6-v2]

An LM conditioned on an encoder can only read a word it never saw in training through the encoder's
sense of what that word is close to. Two nearest-neighbour readings of the encoder's mean-pooled,
normalised states (`arvid.shapes.paraphrase`'s word pools):

- words: each held-out word in a short frame ("a crimson object") against every training word of the
  same attribute in the same frame; right when the nearest training word has the same value;
- sentences: each prompt of the held-out paraphrase set (240) against 4 training captions of every
  combination (2 templates, 2 training-pool paraphrases); right per attribute when the nearest
  caption has the prompt's value.

Chance is one over the attribute's values (colour 1/8, direction 1/8, shape 1/3). A benchmark, not a test.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

FRAMES = {"shape": "a {}", "colour": "a {} object", "size": "a {} object", "direction": "moving {}",
          "background": "on a {} background"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="all-minilm-l6-v2", help="a text encoder name or folder")
    args = parser.parse_args(argv)

    from arvid.lm.text_encoder import TextEncoder
    from arvid.shapes.paraphrase import heldout_paraphrase_set, paraphrase, vocabulary
    from arvid.shapes.world import all_phrasings, attribute_combinations

    torch.set_num_threads(1)
    encoder = TextEncoder.load(args.encoder)

    def embed(texts: list[str]) -> torch.Tensor:
        states = encoder.encode_distinct(texts)
        vectors = torch.stack([states[text].mean(0) for text in texts])
        return vectors / vectors.norm(dim=-1, keepdim=True)

    train, held = vocabulary("train"), vocabulary("heldout")
    print(f"encoder {args.encoder}: nearest training word of the same value, per attribute")
    for name, frame in FRAMES.items():
        pairs = [(value, word) for value, words in train[name].items() for word in words]
        known = embed([frame.format(word) for _, word in pairs])
        new = [(value, word) for value, words in held[name].items() for word in words]
        nearest = (embed([frame.format(word) for _, word in new]) @ known.T).argmax(1)
        right = sum(pairs[int(j)][0] == value for (value, _), j in zip(new, nearest))
        print(f"  {name:<11} {right}/{len(new)}")

    rng = np.random.default_rng(0)
    captions, attrs = [], []
    for combo in attribute_combinations("all"):
        for caption in all_phrasings(combo)[:2] + [paraphrase(combo, rng, "train") for _ in range(2)]:
            captions.append(caption)
            attrs.append(combo)
    prompts = heldout_paraphrase_set(seed=0)
    nearest = (embed([p.prompt for p in prompts]) @ embed(captions).T).argmax(1)
    print("nearest training caption to each held-out paraphrase: the prompt's value, per attribute")
    for name in ("shape", "colour", "size", "direction", "speed", "background"):
        right = [getattr(attrs[int(j)], name) == getattr(p.attrs, name) for p, j in zip(prompts, nearest) if name in p.named]
        print(f"  {name:<11} {100 * np.mean(right):.1f}% of {len(right)}")


if __name__ == "__main__":
    main()
