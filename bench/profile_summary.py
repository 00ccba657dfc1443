"""`python -m bench.profile_summary STACKS [--within FRAME] [--top N]`: the top functions of a
py-spy profile recorded with `--format raw` (collapsed stacks, one sample count per line).

Only samples whose stack holds a frame containing `--within` (e.g. `consume (services/shared/
sequencing.py` for the projection's apply path) are counted, so a profile of a whole benchmark
run can be read for one path. Prints each function's inclusive share (samples with it anywhere
on the stack) and self share (samples where it is the innermost frame) of those samples."""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

_LINE_NUMBER = re.compile(r":\d+\)$")


def function_of(frame: str) -> str:
    """'name (path:line)' without the line, so a function's samples add up."""
    return _LINE_NUMBER.sub(")", frame.strip())


def summarise(lines: list[str], within: str) -> tuple[int, Counter[str], Counter[str]]:
    total = 0
    inclusive: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in lines:
        stack, _, count_text = line.rstrip().rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        frames = [function_of(frame) for frame in stack.split(";")]
        if within and not any(within in frame for frame in frames):
            continue
        count = int(count_text)
        total += count
        for function in set(frames):
            inclusive[function] += count
        own[frames[-1]] += count
    return total, inclusive, own


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.profile_summary", description=__doc__)
    parser.add_argument("stacks", type=Path)
    parser.add_argument("--within", default="", help="count only samples with this frame")
    parser.add_argument("--top", type=int, default=20)
    arguments = parser.parse_args(argv)
    lines = arguments.stacks.read_text().splitlines()
    total, inclusive, own = summarise(lines, arguments.within)
    if not total:
        print("no samples matched", file=sys.stderr)
        return 1
    print(f"{total} samples within {arguments.within or 'the whole profile'}")
    for title, counter in (("inclusive", inclusive), ("self", own)):
        print(f"\n{title}:")
        for function, count in counter.most_common(arguments.top):
            print(f"  {count / total:6.1%}  {function}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
