"""Synthetic country: persons, organisations and furnisher files with known defects.

Public entry::

    synthesize(out_dir: Path, *, persons: int, orgs: int, records: int | None = None,
               seed: int = 0, bad_share: float = 0.01, today: datetime.date | None = None,
               progress: Callable[[str, int, int], None] | None = None) -> dict

It writes into ``out_dir`` and returns the manifest (also written as ``manifest.json``):

- one file per furnisher code in the binding furnisher format: ``court.csv`` (Chinese headers),
  ``market.csv`` (another Chinese alias set), ``tax.csv`` (GB18030), ``bank.csv`` (UTF-8 with
  BOM), ``hrss.parquet``, ``civil_affairs.jsonl``, ``emergency.csv``, ``ecology.csv``,
  ``procurement.csv``; listed in the manifest as ``{"files": [{"path": "court.csv" (relative
  to out_dir), "furnisher": "court", "format": "csv|jsonl|parquet", "encoding": "utf-8" |
  "utf-8-sig" | "gb18030" | null, "header": "zh|en", "rows": N}]}``;
- ``truth.csv`` (file, row_no, reason_code): every deliberately bad row, row_no 1-based over
  data rows (header excluded), reason_code one of the binding quarantine codes; each bad row
  has exactly one defect;
- ``truth_duplicates.csv`` (file, row_no, duplicate_of_row_no): exact re-sent rows, to be
  counted as duplicates and not quarantined;
- ``persons.parquet`` (id, name, pinyin, birth_date, sex), ``orgs.parquet`` (uscc, name,
  legal_rep_id, registered_on), ``same_name_pairs.csv`` (id_a, id_b, name, one_adverse: when
  true, a has adverse records and b has none).

``records`` is the total row count over all furnisher files, bad and duplicate rows included
(default 9 x (persons + orgs)); it never goes below one registration row per org. ``today`` is
the as-of date: no good row is decided after it (default: the current date). The same seed and
today give byte-identical files; only the manifest's ``generated_at`` differs between runs.
``progress(stage, done, total)`` is called as stages advance.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from socialcredit.errors import ValidationFailed
from socialcredit.synth import rates
from socialcredit.synth.assemble import FurnisherFile, lay_out
from socialcredit.synth.badrows import BAD_KINDS, duplicates
from socialcredit.synth.build import build_rows
from socialcredit.synth.catalogue import FURNISHERS
from socialcredit.synth.orgs import Orgs, generate_orgs
from socialcredit.synth.persons import Persons, generate_persons
from socialcredit.synth.table import size
from socialcredit.synth.world import make_world
from socialcredit.synth.write import FILE_SPECS, write_csv, write_furnisher_file, write_parquet

__all__ = ["BAD_KINDS", "FURNISHERS", "synthesize"]

Progress = Callable[[str, int, int], None]
RECORDS_PER_SUBJECT = 9
MIN_PERSONS = 100
STAGES = ("persons", "orgs", "records", "duplicates", "files")


def _validate(persons: int, orgs: int, records: int | None, bad_share: float) -> None:
    if persons < MIN_PERSONS:
        raise ValidationFailed(f"persons must be at least {MIN_PERSONS} (got {persons})")
    if orgs < 1:
        raise ValidationFailed(f"orgs must be at least 1 (got {orgs})")
    if records is not None and records < 1:
        raise ValidationFailed(f"records must be positive (got {records})")
    if not 0.0 <= bad_share <= 0.5:
        raise ValidationFailed(f"bad_share must be between 0 and 0.5 (got {bad_share})")


def _persons_table(p: Persons) -> dict[str, Any]:
    return {
        "id": p.ids,
        "name": p.names,
        "pinyin": p.pinyin,
        "birth_date": pa.array(p.birth.astype("datetime64[D]"), type=pa.date32()),
        "sex": p.sex,
    }


def _orgs_table(o: Orgs, p: Persons) -> dict[str, Any]:
    return {
        "uscc": o.uscc,
        "name": o.names,
        "legal_rep_id": p.ids[o.legal_rep],
        "registered_on": pa.array(o.registered_on.astype("datetime64[D]"), type=pa.date32()),
    }


def _write_truth(out: Path, files: list[FurnisherFile], persons: Persons) -> None:
    def column(attr: str) -> np.ndarray[Any, Any]:
        return np.concatenate([getattr(f, attr) for f in files])

    def names(attr: str) -> np.ndarray[Any, Any]:
        return np.concatenate(
            [np.full(len(getattr(f, attr)), FILE_SPECS[f.furnisher].path) for f in files]
        ).astype(str)

    write_csv(
        out / "truth.csv",
        {
            "file": names("bad_rows"),
            "row_no": column("bad_rows"),
            "reason_code": column("bad_reasons").astype(str),
        },
    )
    write_csv(
        out / "truth_duplicates.csv",
        {
            "file": names("duplicate_rows"),
            "row_no": column("duplicate_rows"),
            "duplicate_of_row_no": column("duplicate_of"),
        },
    )
    pairs = persons.pairs
    one = np.zeros(len(pairs), dtype=bool)
    one[persons.one_adverse] = True
    write_csv(
        out / "same_name_pairs.csv",
        {
            "id_a": persons.ids[pairs[:, 0]],
            "id_b": persons.ids[pairs[:, 1]],
            "name": persons.names[pairs[:, 0]],
            "one_adverse": np.where(one, "true", "false"),
        },
    )


def _counts(values: np.ndarray[Any, Any]) -> dict[str, int]:
    keys, counts = np.unique(values, return_counts=True)
    return {str(k): int(c) for k, c in zip(keys, counts, strict=True)}


def synthesize(
    out_dir: Path,
    *,
    persons: int,
    orgs: int,
    records: int | None = None,
    seed: int = 0,
    bad_share: float = 0.01,
    today: dt.date | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Generate a synthetic country into out_dir and return its manifest (see module doc)."""
    _validate(persons, orgs, records, bad_share)
    report = progress or (lambda stage, done, total: None)
    today = today or dt.date.today()
    total = records if records is not None else RECORDS_PER_SUBJECT * (persons + orgs)
    n_bad = round(total * bad_share)
    n_dup = round(total * rates.DUPLICATE_SHARE) if bad_share > 0 else 0
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(len(STAGES))]

    report("persons", 0, persons)
    people = generate_persons(persons, today, streams[0])
    report("persons", persons, persons)
    report("orgs", 0, orgs)
    organisations = generate_orgs(orgs, today, people, streams[1])
    world = make_world(people, organisations, today, streams[1])
    report("orgs", orgs, orgs)

    report("records", 0, total - n_dup)
    good, bad = build_rows(world, total - n_bad - n_dup, n_bad, streams[2])
    report("records", size(good) + size(bad), total - n_dup)
    report("duplicates", 0, n_dup)
    dups = duplicates(good, n_dup, streams[3])
    report("duplicates", size(dups), n_dup)

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    files = lay_out(good, bad, dups, streams[4])
    entries = []
    for i, made in enumerate(files):
        report("files", i, len(files) + 1)
        spec = FILE_SPECS[made.furnisher]
        write_furnisher_file(out, spec, made.rows)
        entries.append(
            {
                "path": spec.path,
                "furnisher": made.furnisher,
                "format": spec.format,
                "encoding": spec.encoding,
                "header": "zh" if spec.headers else "en",
                "rows": size(made.rows),
            }
        )
    write_parquet(out / "persons.parquet", _persons_table(people))
    write_parquet(out / "orgs.parquet", _orgs_table(organisations, people))
    _write_truth(out, files, people)
    report("files", len(FURNISHERS) + 1, len(FURNISHERS) + 1)

    manifest: dict[str, Any] = {
        "seed": seed,
        "as_of": today.isoformat(),
        "generated_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "persons": persons,
        "minors": int((people.age < 18).sum()),
        "orgs": orgs,
        "rows": sum(e["rows"] for e in entries),
        "bad_share": bad_share,
        "files": entries,
        "per_category": _counts(good["category"]),
        "per_action": _counts(good["action"]),
        "per_bad_kind": {k: int((bad["_bad"] == k).sum()) for k in BAD_KINDS},
        "duplicates": size(dups),
        "same_name_pairs": len(people.pairs),
        "same_name_pairs_one_adverse": len(people.one_adverse),
        "truth": "truth.csv",
        "truth_duplicates": "truth_duplicates.csv",
        "same_name_pairs_file": "same_name_pairs.csv",
        "persons_file": "persons.parquet",
        "orgs_file": "orgs.parquet",
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    return manifest
