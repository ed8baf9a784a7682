"""A benchmark of this tree against an earlier commit, measured in the same run.

    .venv/bin/python benchmarks/bench_against.py --base REV [--rounds 3] [--same-script] \
        benchmarks/bench_sync.py -- --rows 300000

Checks ``REV`` out into a temporary git worktree, then runs the given benchmark script alternately
in that tree and in this one (``--rounds`` times each, with the same arguments and this tree's
virtualenv), so both see the same machine at the same moments. Each tree runs its own copy of the
script, unless ``--same-script``: then this tree's script measures both trees' code (for a
benchmark added or extended with the change it measures, such as ``bench_sync.py`` against the
commit before the bulk paths; the script must use only what both trees have). Each benchmark prints its own
figures; this prints every run's figures side by side (the numbers of each output line, base vs
this tree, with their ratio) and the wall times. A refactoring that claims "no slowdown" shows
ratios around 1.0 here, within the machine's noise (the spread between rounds of one tree).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
_NUMBER = re.compile(r"-?\d[\d,]*\.?\d*")
_LOG_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:")


def run(tree: Path, script: Path, args: list[str]) -> tuple[float, list[str]]:
    """Run ``script`` with ``tree``'s code on its path (``BENCH_TREE``: see bench_env)."""
    env = {**os.environ, "PYTHONPATH": str(tree), "BENCH_TREE": str(tree)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, str(script), *args], cwd=tree, env=env, capture_output=True,
                          text=True, check=False)
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"{script} failed in {tree} (rc {done.returncode}):\n{done.stdout}\n{done.stderr}")
    # Log lines (timestamped) vary from run to run; only the benchmark's own figures are compared.
    return seconds, [line for line in done.stdout.splitlines() if line.strip() and not _LOG_LINE.match(line)]


def numbers(line: str) -> list[float]:
    return [float(n.replace(",", "")) for n in _NUMBER.findall(line)]


def label(line: str) -> str:
    """The line without its figures: what names it in both trees' output."""
    return _NUMBER.sub("#", line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", required=True, help="the commit to compare with (e.g. the pre-change commit)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--same-script", action="store_true",
                        help="run this tree's copy of the script against both trees' code")
    parser.add_argument("script", help="benchmark script, relative to the repository root")
    parser.add_argument("args", nargs=argparse.REMAINDER)
    ns = parser.parse_args()
    args = ns.args[1:] if ns.args[:1] == ["--"] else ns.args
    base_rev = subprocess.run(["git", "rev-parse", "--short", ns.base], cwd=REPO, check=True, capture_output=True,
                              text=True).stdout.strip()
    with tempfile.TemporaryDirectory(prefix="bench-base-") as tmp:
        base = Path(tmp) / "tree"
        subprocess.run(["git", "worktree", "add", "--detach", "-q", str(base), base_rev], cwd=REPO, check=True)
        try:
            walls: dict[str, list[float]] = {"base": [], "this": []}
            outputs: dict[str, list[list[str]]] = {"base": [], "this": []}
            for round_ in range(ns.rounds):
                for name, tree in (("base", base), ("this", REPO)) if round_ % 2 == 0 else (("this", REPO), ("base", base)):
                    script = (REPO if ns.same_script else tree) / ns.script
                    seconds, lines = run(tree, script, args)
                    walls[name].append(seconds)
                    outputs[name].append(lines)
                    print(f"round {round_ + 1} {name:4}: {seconds:7.2f} s wall", flush=True)
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(base)], cwd=REPO, check=False)
    print(f"\n{ns.script} {' '.join(args)}: base {base_rev} vs this tree, {ns.rounds} rounds each, medians"
          + (" (this tree's script for both)" if ns.same_script else ""))
    for line in outputs["this"][0]:
        # A line is matched by its words (a line only one tree prints is left out)
        this = [numbers(out_line) for out in outputs["this"] for out_line in out if label(out_line) == label(line)]
        then = [numbers(out_line) for out in outputs["base"] for out_line in out if label(out_line) == label(line)]
        if not this or not then or not this[0] or len(then[0]) != len(this[0]):
            continue
        pairs = []
        for column in range(len(this[0])):
            a = statistics.median(r[column] for r in then if len(r) > column)
            b = statistics.median(r[column] for r in this if len(r) > column)
            pairs.append(f"{a:g} -> {b:g}" + (f" ({b / a:.2f}x)" if a else ""))
        print(f"  {line[:60]:60} | {'; '.join(pairs)}")
    base_wall, this_wall = statistics.median(walls["base"]), statistics.median(walls["this"])
    print(f"  wall time (whole script)                                     | {base_wall:.2f} s -> {this_wall:.2f} s "
          f"({this_wall / base_wall:.2f}x); spread this tree {min(walls['this']):.2f}-{max(walls['this']):.2f} s")


if __name__ == "__main__":
    main()
