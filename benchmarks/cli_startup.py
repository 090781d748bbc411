"""Start-up time of the `arvid` command: how long `arvid --help` and `arvid generate --help` take,
beside the interpreter's own start (`python -c pass`), in the same run.

    python benchmarks/cli_startup.py [--runs 15]

Each command runs as a fresh subprocess, the commands interleaved round by round (who goes first
rotating) so that load from other work slows them alike; the table gives the median and the
fastest of `--runs` rounds. Two more rows put the figures in context: building every
subcommand's parser (what `arvid.tools.cli.build_parser()` costs a test), and `import torch`, which
the command line paid before any help was printed when its modules imported torch at the top.
A benchmark, not a test: tests/test_cli_startup.py checks the property behind it (parsing
arguments imports no torch).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path


def arvid_command() -> list[str]:
    """The `arvid` console script of this interpreter, or `python -m arvid.tools.cli` without one."""
    script = Path(sys.executable).parent / "arvid"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "arvid.tools.cli"]


def commands() -> dict[str, list[str]]:
    """Row name -> command line."""
    arvid = arvid_command()
    return {
        "python -c pass": [sys.executable, "-c", "pass"],
        "arvid --help": [*arvid, "--help"],
        "arvid generate --help": [*arvid, "generate", "--help"],
        "every subcommand's parser": [sys.executable, "-c", "from arvid.tools.cli import build_parser; build_parser()"],
        "import torch": [sys.executable, "-c", "import torch"],
    }


def time_once(command: list[str]) -> float:
    """Wall seconds of one run of `command`, its output discarded.

    Raises:
        subprocess.CalledProcessError: the command failed.
    """
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> None:
    """Time every row `--runs` times, interleaved, and print the table."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=15, help="rounds (default 15)")
    args = parser.parse_args(argv)

    rows = commands()
    for command in rows.values():  # warm the file cache and the bytecode cache first
        time_once(command)
    seconds: dict[str, list[float]] = {name: [] for name in rows}
    names = list(rows)
    for round_index in range(args.runs):
        shift = round_index % len(names)
        for name in names[shift:] + names[:shift]:
            seconds[name].append(time_once(rows[name]))

    baseline = statistics.median(seconds["python -c pass"])
    print(f"{args.runs} rounds, interleaved; {sys.executable}")
    print(f"{'command':<28} {'median s':>9} {'fastest s':>10} {'over python':>12}")
    for name in names:
        median = statistics.median(seconds[name])
        print(f"{name:<28} {median:>9.3f} {min(seconds[name]):>10.3f} {median - baseline:>+12.3f}")


if __name__ == "__main__":
    main()
