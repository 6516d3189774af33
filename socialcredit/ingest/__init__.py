"""Validated ingestion of furnisher records: readers, checks, ledger rules, quarantine, review.

    ingest_files(engine, paths, furnisher=..., chunk_rows=...)  files -> one batch
    ingest_rows(engine, rows, furnisher=..., source="api")      mappings -> one batch (the API)

Both return a ``RunSummary`` whose counts satisfy read = accepted + quarantined + duplicates.
The file format is described in docs/furnisher-format.md.
"""

from socialcredit.ingest.pipeline import ingest_files, ingest_rows
from socialcredit.ingest.summary import Counts, RunSummary

__all__ = ["Counts", "RunSummary", "ingest_files", "ingest_rows"]
