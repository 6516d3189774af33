"""How fast the generator makes persons (valid IDs, names, pinyin), against a numpy floor.

    .venv/bin/python bench/synth.py --persons 1000000

The floor is numpy drawing N random 18-digit strings in the same run: the least any vectorised
ID generator must do. The ratio says how many floors the real thing costs. Ends with one JSON
line: persons, seconds, persons_per_s, baseline_seconds, ratio.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

import numpy as np
from numpy.typing import NDArray

from socialcredit import ids
from socialcredit.synth.codes import to_strings
from socialcredit.synth.names import vocabulary
from socialcredit.synth.persons import generate_persons

AS_OF = dt.date(2026, 1, 1)
VALIDATED_SAMPLE = 10_000


def baseline(n: int, seed: int) -> tuple[float, NDArray[np.str_]]:
    started = time.perf_counter()
    rng = np.random.default_rng(seed)
    digits = rng.integers(0, 10, (n, 18), dtype=np.uint8) + ord("0")
    strings = to_strings(digits.astype(np.uint8))
    return time.perf_counter() - started, strings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n = args.persons

    vocabulary()  # Faker's vocabularies load once per process: not per-person work
    base_seconds, floor = baseline(n, args.seed)
    started = time.perf_counter()
    persons = generate_persons(n, AS_OF, np.random.default_rng(args.seed))
    seconds = time.perf_counter() - started

    sample = persons.ids[: min(n, VALIDATED_SAMPLE)].tolist()
    valid = sum(ids.check(value, today=AS_OF).valid for value in sample)
    unique = len(np.unique(persons.ids))
    print(f"floor: {n:,} random 18-digit strings in {base_seconds:.2f} s ({floor[0]} ...)")
    print(
        f"persons: {n:,} with IDs, names and pinyin in {seconds:.2f} s "
        f"({n / seconds:,.0f} persons/s), {seconds / base_seconds:.1f}x the floor"
    )
    print(
        f"e.g. {persons.ids[0]} {persons.names[0]} {persons.pinyin[0]}; unique IDs {unique:,}; "
        f"valid per socialcredit.ids.check in a sample: {valid:,}/{len(sample):,}"
    )
    print(
        json.dumps(
            {
                "persons": n,
                "seconds": round(seconds, 3),
                "persons_per_s": round(n / seconds),
                "baseline_seconds": round(base_seconds, 3),
                "ratio": round(seconds / base_seconds, 2),
            }
        )
    )


if __name__ == "__main__":
    main()
