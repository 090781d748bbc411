"""Fetch WordNet 3.0 for rewriting prompts (`arvid generate --rewrite-prompts`, `arvid.data.synonyms`).

    python scripts/fetch_wordnet.py                # -> ~/.cache/arvid/wordnet (or $ARVID_WORDNET)
    python scripts/fetch_wordnet.py --folder DIR   # then set ARVID_WORDNET=DIR

Takes Debian's `wordnet-base` (the database) and `wordnet-sense-index` (index.sense, which nltk's
reader opens) with `apt-get download` + `dpkg -x`, so nothing is installed system-wide, and lays
them out as nltk reads a corpus: FOLDER/corpora/wordnet/. nltk also wants `lexnames` (the 45
lexicographer files' names), which Debian ships only as its manual page lexnames(5WN): it is
written from that page. Idempotent: a folder that already reads is left alone. Exit status 1 with a
message when apt cannot fetch a package.
"""

from __future__ import annotations

import argparse
import gzip
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from fetch_real_data import FetchError, apt_download, log  # scripts/fetch_real_data.py, beside this one

from arvid.data.synonyms import WordNet, wordnet_folder

PACKAGES = ("wordnet-base", "wordnet-sense-index")
CATEGORY = {"noun": 1, "verb": 2, "adj": 3, "adv": 4}  # lexnames' third column, by the name's prefix


def lexnames_from_manual(manual: Path) -> str:
    """The `lexnames` file nltk reads ("NN<TAB>name<TAB>category" per line) from the gzipped manual
    page lexnames(5WN), whose table lists each file's number and name."""
    text = gzip.decompress(manual.read_bytes()).decode()
    rows = re.findall(r"^(\d\d)\s+((?:noun|verb|adj|adv)\.\w+)", text, flags=re.MULTILINE)
    if [int(number) for number, _ in rows] != list(range(len(rows))) or len(rows) < 40:
        raise FetchError(f"{manual}: the lexicographer file table did not read as expected ({len(rows)} rows)")
    return "".join(f"{number}\t{name}\t{CATEGORY[name.split('.')[0]]}\n" for number, name in rows)


def fetch(folder: Path) -> None:
    """Fetch and lay out WordNet in `folder` (see the module docstring)."""
    target = folder / "corpora" / "wordnet"
    with tempfile.TemporaryDirectory() as scratch_name:
        scratch, updated = Path(scratch_name), [False]
        for name in PACKAGES:
            log(f"{name}: apt-get download")
            deb = apt_download(name, scratch, updated)
            unpack = subprocess.run(["dpkg", "-x", str(deb), str(scratch / "root")], capture_output=True, text=True)
            if unpack.returncode != 0:
                raise FetchError(f"dpkg -x {deb} failed:\n{unpack.stderr.strip()}")
        staging = folder / "corpora" / "wordnet.partial"
        shutil.rmtree(staging, ignore_errors=True)
        shutil.copytree(scratch / "root" / "usr" / "share" / "wordnet", staging)
        (staging / "lexnames").write_text(lexnames_from_manual(
            scratch / "root" / "usr" / "share" / "man" / "man5" / "lexnames.5WN.gz"))
        shutil.copy(scratch / "root" / "usr" / "share" / "doc" / "wordnet-base" / "copyright", staging / "LICENSE")
    shutil.rmtree(target, ignore_errors=True)
    staging.rename(target)  # whole or not at all: a run cut short leaves no folder that half reads


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--folder", type=Path, default=None,
                        help="where to put it (default: $ARVID_WORDNET, else ~/.cache/arvid/wordnet)")
    args = parser.parse_args(argv)
    folder = wordnet_folder(args.folder)
    try:
        WordNet(folder)
        log(f"WordNet already reads from {folder}")
        return 0
    except FileNotFoundError:
        pass
    except ImportError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    try:
        fetch(folder)
        WordNet(folder).knows("red")
    except FetchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    log(f"WordNet 3.0 in {folder}" + ("" if args.folder is None else f" (set ARVID_WORDNET={folder})"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
