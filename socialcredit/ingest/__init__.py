"""Validated ingestion of furnisher records: readers, checks, ledger rules, quarantine, review.

    ingest_files(engine, paths, furnisher=..., chunk_rows=...)  files -> one batch
    ingest_rows(engine, rows, furnisher=..., source="api")      mappings -> one batch (the API)

Both return a ``RunSummary`` whose counts satisfy read = accepted + quarantined + duplicates.
The file format is described in docs/furnisher-format.md.

The names are imported on first use, so the reading worker (``ingest.worker``) imports only the
reading and checking modules, not the store's.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from socialcredit.ingest.pipeline import ingest_files, ingest_rows
    from socialcredit.ingest.summary import Counts, RunSummary

__all__ = ["Counts", "RunSummary", "ingest_files", "ingest_rows"]
_HOMES = {
    "Counts": "summary",
    "RunSummary": "summary",
    "ingest_files": "pipeline",
    "ingest_rows": "pipeline",
}


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"socialcredit.ingest.{_HOMES[name]}"), name)
