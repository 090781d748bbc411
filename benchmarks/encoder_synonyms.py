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

- wider vocabulary (`--wider`): would more training words per value help? Words of `WIDER` (lists of
  my own, wider than the training pool, none a held-out word or sharing its root) are split per value,
  a third as validation words, the rest with the training pool's as a wider training pool; each
  validation word, alone, is read against the training pool and against the wider one. The held-out
  pool plays no part, so the answer can guide a retraining without touching what is reported.
- learned reading (`--probe`): nearest neighbours ask more than an LM does, which learns its own
  reading of the states. A linear probe (softmax regression on the normalised states) is trained
  on the words of the training pool, or of the wider pool, and reads the same validation words.

- rewriting (`--rewrite`, no encoder): `arvid.data.synonyms` reads each word of `WIDER` outside the
  training pool, in its frame, into the shipped LM's caption words through WordNet, 0, 1 and 2
  relations deep (and as written, for scale); right when the text holds a training-pool word of the word's value (the longest
  one found decides), wrong when of another value, unread when none. This chose the depth the
  commands use; the held-out pool plays no part.

Chance is one over the attribute's values (colour 1/8, direction 1/8, shape 1/3). A benchmark, not a test.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

# Wider word lists of my own (`--wider`); held-out words and their roots left out (no compass words).
WIDER: dict[str, dict[str, list[str]]] = {
    "shape": {
        "circle": ["circle", "disc", "round dot", "orb", "sphere", "round shape", "dot", "circular shape", "spot",
            "round token"],
        "square": ["square", "box", "block", "cube", "square shape", "squarish shape", "quadrate", "square block",
            "square patch", "boxy shape"],
        "triangle": ["triangle", "three-cornered shape", "triangular shape", "trigon", "delta", "arrowhead",
            "triangular form", "three-pointed shape", "tri-shape", "spike shape"],
    },
    "colour": {
        "red": ["red", "scarlet", "ruby", "carmine", "vermilion", "blood-red", "brick-red", "cardinal red",
            "rose-red", "tomato-red", "fire-engine red", "maroon"],
        "green": ["green", "emerald", "jade", "leaf-green", "forest green", "kelly green", "mint", "chartreuse",
            "neon green", "pea-green", "bright green", "olive"],
        "blue": ["blue", "azure", "sapphire", "cerulean", "ultramarine", "cornflower blue", "electric blue",
            "bright blue", "denim", "indigo", "true blue", "pure blue"],
        "yellow": ["yellow", "golden", "gold", "mustard", "sunflower yellow", "butter yellow", "saffron",
            "banana yellow", "daffodil", "citrine", "sunny yellow", "buttercup"],
        "cyan": ["cyan", "aqua", "aquamarine", "blue-green", "ice blue", "seafoam", "sky blue", "electric cyan",
            "light aqua", "aqua blue", "glacier blue", "caribbean blue"],
        "magenta": ["magenta", "fuchsia", "purple", "orchid", "mauve", "lilac", "plum", "cerise", "rosy purple",
            "purplish", "bright purple", "lavender"],
        "orange": ["orange", "tangerine", "apricot", "peach", "coral", "rust", "copper", "burnt orange", "carrot",
            "marigold", "ginger", "bright orange"],
        "white": ["white", "snow-white", "cream", "bone white", "alabaster", "frost-white", "porcelain",
            "bright white", "pale white", "eggshell", "linen", "colourless white"],
    },
    "size": {
        "small": ["small", "little", "petite", "wee", "compact", "pint-sized", "diminutive", "minute", "itty-bitty",
            "small-sized", "smallish", "teeny"],
        "large": ["large", "big", "giant", "enormous", "hefty", "sizable", "jumbo", "oversized", "great big",
            "bulky", "colossal", "immense"],
    },
    "direction": {
        "right": ["right", "to the right", "rightwards", "rightward", "toward the right side",
            "to the right-hand side", "in the right direction", "to its right"],
        "left": ["left", "to the left", "leftwards", "leftward", "toward the left side", "to the left-hand side",
            "in the left direction", "to its left"],
        "up": ["up", "upwards", "towards the top", "upward", "skyward", "toward the top of the frame", "rising",
            "higher and higher"],
        "down": ["down", "downwards", "towards the bottom", "downward", "earthward",
            "toward the bottom of the frame", "falling", "sinking"],
        "up-right": ["up and to the right", "towards the top right", "up-right", "to the upper right",
            "diagonally up and right", "rising to the right", "up and rightwards", "toward the top-right"],
        "up-left": ["up and to the left", "towards the top left", "up-left", "to the upper left",
            "diagonally up and left", "rising to the left", "up and leftwards", "toward the top-left"],
        "down-right": ["down and to the right", "towards the bottom right", "down-right", "to the lower right",
            "diagonally down and right", "falling to the right", "down and rightwards", "toward the bottom-right"],
        "down-left": ["down and to the left", "towards the bottom left", "down-left", "to the lower left",
            "diagonally down and left", "falling to the left", "down and leftwards", "toward the bottom-left"],
    },
    "background": {
        "black": ["black", "jet-black", "dark", "coal-black", "ebony", "onyx", "raven", "sable", "soot-black",
            "blackened"],
        "white": ["white", "snow-white", "bright white", "blank", "paper-white", "pale", "plain white",
            "brilliant white", "whitewashed", "clean white"],
        "gray": ["gray", "grey", "silver", "charcoal", "stone-grey", "smoky", "pewter", "dove-grey", "leaden",
            "greyish"],
        "navy": ["navy", "dark navy", "dark blue", "navy-blue", "deep blue", "marine blue", "oxford blue",
            "dusky blue", "naval blue", "admiral blue"],
    },
}

FRAMES = {"shape": "a {}", "colour": "a {} object", "size": "a {} object", "direction": "moving {}",
          "background": "on a {} background"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--encoder", default="all-minilm-l6-v2", help="a text encoder name or folder")
    parser.add_argument("--wider", action="store_true",
                        help="instead: would a wider training vocabulary help? (validation words of WIDER)")
    parser.add_argument("--probe", action="store_true",
                        help="with --wider: read the validation words with a linear probe, not nearest neighbours")
    parser.add_argument("--rewrite", action="store_true",
                        help="instead: WIDER's words outside the training pool rewritten through WordNet (no encoder)")
    args = parser.parse_args(argv)
    if args.rewrite:
        rewrite_validation()
        return

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
    if args.wider:
        wider_vocabulary(embed, train, probe=args.probe)
        return
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


def wider_vocabulary(embed, train: dict[str, dict[str, tuple[str, ...]]], *, probe: bool = False) -> None:
    """Validation words of `WIDER`, each alone, read against the training pool and against the
    training pool plus the rest of `WIDER` (by nearest neighbour, or with `probe` by a linear probe
    trained on the pool's words); prints right/total per attribute."""
    rng = np.random.default_rng(0)
    how = "a linear probe's reading" if probe else "nearest word of the same value"
    print(f"validation words of WIDER, alone: {how}, training pool -> wider pool")
    for name, values in WIDER.items():
        wider, validation = [], []
        for value, words in values.items():
            extra = [word for word in words if word not in train[name][value]]
            order = rng.permutation(len(extra))
            validation += [(value, extra[i]) for i in order[:len(extra) // 3]]
            wider += [(value, word) for word in train[name][value]] + [(value, extra[i]) for i in order[len(extra) // 3:]]
        pool = [(value, word) for value, words in train[name].items() for word in words]
        asked = embed([word for _, word in validation])
        scores = []
        for pairs in (pool, wider):
            known = embed([word for _, word in pairs])
            if probe:
                names = sorted(values)
                read = [names[int(j)] for j in linear_probe(known, [names.index(v) for v, _ in pairs], len(names),
                                                            asked)]
            else:
                read = [pairs[int(j)][0] for j in (asked @ known.T).argmax(1)]
            right = sum(guess == value for (value, _), guess in zip(validation, read))
            scores.append(f"{right}/{len(validation)} ({len(pairs)} words)")
        print(f"  {name:<11} {scores[0]} -> {scores[1]}")


def rewrite_validation(depths: tuple[int | None, ...] = (None, 0, 1, 2)) -> None:
    """`WIDER`'s words outside the training pool, each in its frame, rewritten into the shipped LM's
    caption words at each WordNet depth (None: as written); prints right / wrong / unread per attribute."""
    from arvid.data.caption_words import normalized
    from arvid.data.synonyms import WordNet, rewrite_prompt
    from arvid.shapes.content import training_caption_words
    from arvid.shapes.paraphrase import vocabulary

    train, known = vocabulary("train"), training_caption_words()

    def value_read(text: str, name: str) -> str | None:
        found = [(len(word), value) for value, words in train[name].items() for word in words
                 if normalized(word) in normalized(text)]
        return max(found)[1] if found else None

    print("WIDER's words outside the training pool, rewritten: right / wrong / unread (of all)")
    for depth in depths:
        lexicon = None if depth is None else WordNet(depth=depth)
        cells = []
        for name, values in WIDER.items():
            tally = [0, 0, 0]
            for value, words in values.items():
                for word in words:
                    if word in train[name][value]:
                        continue
                    text = FRAMES[name].format(word)
                    read = value_read(text if lexicon is None else rewrite_prompt(text, known, lexicon).prompt, name)
                    tally[0 if read == value else 2 if read is None else 1] += 1
            cells.append(f"{name} {tally[0]}/{tally[1]}/{tally[2]}")
        print(f"  {'as written' if depth is None else f'depth {depth}'}: " + ", ".join(cells))


def linear_probe(features: torch.Tensor, labels: list[int], classes: int, asked: torch.Tensor,
                 *, steps: int = 500, weight_decay: float = 1e-3) -> torch.Tensor:
    """Softmax regression fitted on `features` (n d) with `labels` (n,), then its class for each row
    of `asked` (m d) -> (m,) int64. Full-batch Adam; the weight decay keeps a perfectly separable
    handful of words from pushing the weights to infinity."""
    torch.manual_seed(0)
    linear = torch.nn.Linear(features.shape[1], classes)
    optimizer = torch.optim.Adam(linear.parameters(), lr=0.05, weight_decay=weight_decay)
    targets = torch.tensor(labels)
    for _ in range(steps):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(linear(features), targets).backward()
        optimizer.step()
    with torch.no_grad():
        return linear(asked).argmax(1)


if __name__ == "__main__":
    main()
