"""Engines that execute the derivation's Ibis expressions (DuckDB today; Spark can join later).

An engine provides what ``Engine`` lists: the store's ``events`` and ``subjects`` as relations
(or a slice of them handed in as Arrow tables), the policy's tables, materialisation of each
stage, and bulk replacement of the derived tables in the store. The expressions themselves
(``derive/expressions.py``) know nothing of the engine.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Protocol

import pyarrow as pa

from socialcredit.derive.engines.duckdb_ratings_memo import RatingsMemo
from socialcredit.derive.engines.duckdb_write import TableWrite, Written
from socialcredit.derive.policy_tables import PolicyRelations, PolicyTables
from socialcredit.derive.run_finish import RunFinish

Table = Any  # ibis.Table


class Engine(Protocol):
    def attach(self, url: str) -> None: ...
    def store_table(self, name: str) -> Table: ...
    def ledger_events(self, progress: Callable[[str], None] = ...) -> Table: ...
    def from_arrow(self, name: str, data: pa.Table) -> Table: ...
    def policy_relations(self, policy: PolicyTables) -> PolicyRelations: ...
    def compile(self, expr: Table) -> str: ...
    def materialise_sql(self, name: str, sql: str) -> Table: ...
    def view_sql(self, name: str, sql: str) -> Table: ...
    def materialise(self, name: str, expr: Table) -> Table: ...
    def stage_events(self, name: str, expr: Table) -> Table: ...
    def table(self, name: str) -> Table: ...
    def ratings_memo(self, salt: Callable[[], str]) -> RatingsMemo | None: ...
    def count(self, expr: Table) -> int: ...
    def to_arrow(self, expr: Table) -> pa.Table: ...
    def replace_store_tables(
        self,
        writes: Sequence[TableWrite],
        progress: Callable[[str], None] = ...,
        *,
        tag: str,
        finish: RunFinish | None = ...,
        delta_max_share: float = ...,
    ) -> Written: ...


__all__ = ["Engine", "TableWrite", "Written"]
