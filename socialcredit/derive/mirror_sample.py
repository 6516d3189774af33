"""How the copies beside a SQLite store (``ledger_mirror``, ``subjects_mirror``) check
themselves against it: rows at a few keys spread over the copy, looked up by SQLite itself,
must be the copy's rows at the same keys."""

from __future__ import annotations

from collections.abc import Sequence

import duckdb

CATALOG = "ledger"  # the copies' catalog: the DuckDB file beside the store


def spread(last: int, samples: int) -> list[int]:
    """``samples`` keys spread evenly over 1..``last``, ``last`` among them."""
    return sorted({max(1, last * k // samples) for k in range(1, samples + 1)})


def rows_agree(
    con: duckdb.DuckDBPyConnection,
    store: str,
    table: str,
    store_columns: Sequence[str],
    copy_table: str,
    copy_columns: Sequence[str],
    keys: Sequence[int],
) -> bool:
    """Does the copy hold rows at ``keys`` and the store (attached SQLite catalog ``store``)
    the same ones? The first column of each list is the key; values compare as text, which is
    how ``sqlite_query`` returns them (so they are sorted in Python, not as numbers by one side
    and as text by the other)."""
    listed = ", ".join(str(int(key)) for key in keys)  # integers only: safe to inline
    texts = ", ".join(f"CAST(c{i} AS VARCHAR)" for i in range(len(copy_columns)))
    aliased = ", ".join(f"{name} AS c{i}" for i, name in enumerate(store_columns))
    in_store = con.execute(
        f"SELECT {texts} FROM sqlite_query('{store}', "
        f"'SELECT {aliased} FROM {table} WHERE {store_columns[0]} IN ({listed})')"
    ).fetchall()
    copied = ", ".join(f"{name} AS c{i}" for i, name in enumerate(copy_columns))
    in_copy = con.execute(
        f"SELECT {texts} FROM (SELECT {copied} FROM {CATALOG}.{copy_table} "
        f"WHERE {copy_columns[0]} IN ({listed}))"
    ).fetchall()
    return bool(in_copy) and sorted(in_store) == sorted(in_copy)
