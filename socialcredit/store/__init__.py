"""The store: system of record (SQLite by default, PostgreSQL in production)."""
