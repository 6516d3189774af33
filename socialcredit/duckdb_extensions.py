"""DuckDB's SQLite and PostgreSQL scanners, loaded from the ``duckdb_ext`` package on disk.

They ship offline in ``duckdb-ext-sqlite`` / ``duckdb-ext-postgres`` and are LOADed by path,
never INSTALLed from the network.
"""

from __future__ import annotations

import glob
import importlib.util
import os

from socialcredit.errors import ConfigError


def extension_path(name: str) -> str:
    spec = importlib.util.find_spec("duckdb_ext")
    roots = list(spec.submodule_search_locations or []) if spec else []
    if not roots:
        raise ConfigError("the duckdb_ext package (duckdb-ext-sqlite / -postgres) is not installed")
    root = roots[0]
    pattern = os.path.join(root, "extensions", "*", "*", f"{name}.duckdb_extension")
    found = sorted(glob.glob(pattern))
    if not found:
        raise ConfigError(
            f"DuckDB extension {name} not found under {root}: "
            "install duckdb-ext-sqlite / duckdb-ext-postgres"
        )
    return found[-1]


def sql_string(value: str) -> str:
    """A SQL string literal (single quotes doubled): for the few statements without parameters."""
    return "'" + value.replace("'", "''") + "'"
