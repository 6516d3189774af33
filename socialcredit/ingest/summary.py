"""Counts of a run and of each file: read = accepted + quarantined + duplicates, always."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol


class Progress(Protocol):
    """Where a run reports how far it got (the CLI draws a progress bar)."""

    def start(self, file: str, total: int, unit: str) -> None: ...

    def advance(self, position: int, rows: int) -> None: ...

    def finish(self) -> None: ...


@dataclass
class Counts:
    file: str = ""
    format: str = ""
    encoding: str | None = None
    read: int = 0
    accepted: int = 0
    quarantined: int = 0
    duplicates: int = 0
    review: int = 0
    reasons: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)

    def add(
        self, *, read: int, accepted: int, duplicates: int, rejected: Iterable[str], review: int
    ) -> None:
        reasons = Counter(rejected)
        quarantined = sum(reasons.values())
        if read != accepted + quarantined + duplicates:  # every row has exactly one outcome
            raise AssertionError(
                f"{self.file}: read {read} != accepted {accepted} + quarantined "
                f"{quarantined} + duplicates {duplicates}"
            )
        self.read += read
        self.accepted += accepted
        self.quarantined += quarantined
        self.duplicates += duplicates
        self.review += review
        self.reasons.update(reasons)

    def merge(self, other: Counts) -> None:
        self.read += other.read
        self.accepted += other.accepted
        self.quarantined += other.quarantined
        self.duplicates += other.duplicates
        self.review += other.review
        self.reasons.update(other.reasons)
        self.warnings += [f"{other.file}: {w}" for w in other.warnings]

    def figures(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "accepted": self.accepted,
            "quarantined": self.quarantined,
            "duplicates": self.duplicates,
            "review": self.review,
            "reasons": dict(sorted(self.reasons.items())),
        }


@dataclass(frozen=True)
class RunSummary:
    batch_id: int
    furnisher: str
    totals: Counts
    files: list[Counts]
    seconds: float

    def to_json(self) -> dict[str, Any]:
        rate = self.totals.read / self.seconds if self.seconds > 0 else None
        return {
            "batch_id": self.batch_id,
            "furnisher": self.furnisher,
            "status": "done",
            **self.totals.figures(),
            "warnings": self.totals.warnings,
            "files": [
                {
                    "file": f.file,
                    "format": f.format,
                    "encoding": f.encoding,
                    **f.figures(),
                    "warnings": f.warnings,
                }
                for f in self.files
            ],
            "seconds": round(self.seconds, 3),
            "records_per_s": round(rate) if rate else None,
        }
