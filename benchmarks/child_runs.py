"""Running one benchmark variant in a process of its own, so that its peak resident memory is its own.

A script re-runs itself with its variant's arguments; the child prints one JSON line last, which
`run_child` returns. `peak_rss_mib` reads the process's high-water mark (what `ru_maxrss` says).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys


def run_child(script: str, arguments: list[str]) -> dict:
    """Run `python script *arguments` and return the JSON object on its last line of output.

    Raises:
        subprocess.CalledProcessError: the child failed (its output is in the exception).
    """
    child = subprocess.run([sys.executable, script, *arguments], capture_output=True, text=True, check=True)
    return json.loads(child.stdout.strip().splitlines()[-1])


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
