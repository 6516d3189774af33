"""All rows of the country, before they are laid out in files: good rows and bad rows.

Good rows are the planned originals, their follow-ups and the loan bulk; bad rows are spoiled
originals. Record ids come from one shuffled serial space per furnisher shared by good and bad
rows, so nothing in a bad row's id gives it away.
"""

from __future__ import annotations

import numpy as np

from socialcredit.synth import followups
from socialcredit.synth.badrows import kind_counts, spoil, templates
from socialcredit.synth.catalogue import FURNISHERS
from socialcredit.synth.documents import record_ids
from socialcredit.synth.records import bulk, generate, plan
from socialcredit.synth.table import Rows, concat, size
from socialcredit.synth.world import World


def assign_record_ids(parts: list[Rows], rng: np.random.Generator) -> None:
    """Distinct record ids per furnisher over all parts: serials are a shuffled 1..n."""
    ids = [np.empty(size(p), dtype="U24") for p in parts]
    for furnisher in FURNISHERS:
        masks = [p["_furnisher"] == furnisher for p in parts]
        total = int(sum(m.sum() for m in masks))
        serial = rng.permutation(total) + 1
        width = max(6, len(str(total)))
        start = 0
        for part, mask, out in zip(parts, masks, ids, strict=True):
            count = int(mask.sum())
            year = np.strings.slice(part["decided_on"][mask], 0, 4)
            out[mask] = record_ids(furnisher, year, serial[start : start + count], width)
            start += count
    for part, out in zip(parts, ids, strict=True):
        part["record_id"] = out.astype(f"U{max(1, int(np.strings.str_len(out).max(initial=1)))}")


def build_rows(
    world: World, target: int, n_bad: int, rng: np.random.Generator
) -> tuple[Rows, Rows]:
    """(good rows, bad rows); good rows number `target` when the budget has room."""
    originals = concat(list(generate(world, plan(world, target), rng)))
    chosen = followups.choose(originals, rng)
    for _, _, index in chosen:  # a record that changes later is never re-sent as a duplicate
        originals["_locked"][index] = True
    n_later = sum(len(index) for _, _, index in chosen)
    loans = list(bulk(world, max(0, target - size(originals) - n_later), rng))
    spoilt: list[tuple[str, Rows]] = [
        (reason, templates(world, reason, count, rng))
        for reason, count in kind_counts(n_bad).items()
        if count
    ]
    assign_record_ids([originals, *loans, *(rows for _, rows in spoilt)], rng)
    for reason, rows in spoilt:
        spoil(world, reason, rows, rng)
    later = followups.follow_ups(originals, chosen, world.day, rng)
    good = concat([originals, later, *loans])
    good["_row"] = np.arange(size(good))
    return good, concat([rows for _, rows in spoilt])
