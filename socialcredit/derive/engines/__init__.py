"""Engines that execute the derivation's Ibis expressions (DuckDB today; Spark can join later).

An engine provides: the store's ``events`` and ``subjects`` as relations (or a slice of them
handed in as Arrow tables), materialisation of intermediate relations, and bulk replacement of
the derived tables in the store.
"""
