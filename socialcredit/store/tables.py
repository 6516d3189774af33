"""The store's tables (SQLAlchemy Core): the one schema declaration; Alembic migrates to it.

Three groups:
- system of record, append-only: ``events`` (the ledger), ``ingest_batches``, ``quarantine``,
  ``review_queue``, ``policy_versions``;
- registry: ``subjects`` (one row per validated identifier, upserted by ingestion);
- derived serving state, kept current by ``derive``: ``ratings``, ``list_entries``,
  ``decisions``, with ``derive_runs`` recording every run. The rows carry no run: the last
  finished run (finished in the transaction that wrote its results) says as of which date and
  under which policy they hold, and a full run rewrites only the rows that changed. Record
  states are not stored: they are one row per record, cheap to compute for one subject
  (``report``) and the most expensive thing to write for all of them.

Subjects are keyed by their normalised identifier (``subject_id``): a resident ID and a USCC
never share a value once normalised and classified by ``socialcredit.ids``. Amounts are kept
in integer fen (``amount_fen``) so that every engine computes the same sums.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Column,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

ID = String(32)  # identifiers and codes
Key = BigInteger().with_variant(Integer, "sqlite")  # sqlite autoincrement needs INTEGER

policy_versions = Table(
    "policy_versions",
    metadata,
    Column("version", String(64), primary_key=True),
    Column("effective_from", Date, nullable=False),
    Column("name", Text, nullable=False),
    Column("sha256", String(64), nullable=False),
    Column("source", Text, nullable=False),  # the TOML text as loaded, for replay
    Column("loaded_at", DateTime(timezone=True), nullable=False),
)

ingest_batches = Table(
    "ingest_batches",
    metadata,
    Column("batch_id", Key, primary_key=True, autoincrement=True),
    Column("furnisher", ID, nullable=False),
    Column("source", Text, nullable=False),  # file path or "api"
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("status", String(16), nullable=False),  # running / done / failed
    Column("read", BigInteger, nullable=False, default=0),
    Column("accepted", BigInteger, nullable=False, default=0),
    Column("quarantined", BigInteger, nullable=False, default=0),
    Column("duplicates", BigInteger, nullable=False, default=0),
    Column("review", BigInteger, nullable=False, default=0),
)

subjects = Table(
    "subjects",
    metadata,
    Column("subject_id", ID, primary_key=True),
    Column("scheme", String(16), nullable=False),
    Column("kind", String(8), nullable=False),  # person / org
    Column("name", Text, nullable=False),
    Column("name_pinyin", Text),
    Column("birth_date", Date),
    Column("sex", String(1)),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Index("ix_subjects_name", "name"),
    Index("ix_subjects_name_pinyin", "name_pinyin"),  # review candidates that sound the same
)

events = Table(
    "events",
    metadata,
    Column("seq", Key, primary_key=True, autoincrement=True),
    # The event's identity: the first 16 bytes of the sha256 of its content (store.ledger). It
    # is unique with the record it belongs to, so the record index enforces idempotency and no
    # index of random keys of its own is kept.
    Column("event_key", LargeBinary(16), nullable=False),
    Column("batch_id", Key, ForeignKey("ingest_batches.batch_id"), nullable=False),
    Column("furnisher", ID, nullable=False),
    Column("record_id", String(128), nullable=False),
    Column("action", String(8), nullable=False),  # file / amend / revoke / fulfil
    Column("subject_id", ID, nullable=False),
    Column("subject_name", Text, nullable=False),
    Column("category", String(64), nullable=False),
    Column("decided_on", Date, nullable=False),
    Column("document_no", String(128), nullable=False),
    Column("amount_fen", BigInteger),
    Column("ground", String(64)),
    Column("extension_months", Integer),
    Column("legal_rep_id", ID),
    Column("note", Text),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Index("ix_events_record", "furnisher", "record_id", "event_key", unique=True),
    Index("ix_events_subject", "subject_id"),
    # Which organisations a person represents; partial: most events name no representative.
    Index(
        "ix_events_legal_rep",
        "legal_rep_id",
        sqlite_where=text("legal_rep_id IS NOT NULL"),
        postgresql_where=text("legal_rep_id IS NOT NULL"),
    ),
)

quarantine = Table(
    "quarantine",
    metadata,
    Column("quarantine_id", Key, primary_key=True, autoincrement=True),
    Column("batch_id", Key, ForeignKey("ingest_batches.batch_id"), nullable=False),
    Column("source", Text, nullable=False),
    Column("row_no", BigInteger, nullable=False),  # 1-based data row (header excluded)
    Column("field", String(64), nullable=False),
    Column("value", Text),
    Column("reason_code", String(64), nullable=False),
    Column("reason", Text, nullable=False),
    Column("raw", JSON, nullable=False),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Index("ix_quarantine_batch", "batch_id"),
)

review_queue = Table(
    "review_queue",
    metadata,
    Column("review_id", Key, primary_key=True, autoincrement=True),
    Column("quarantine_id", Key, ForeignKey("quarantine.quarantine_id"), nullable=False),
    Column("subject_name", Text),
    Column("candidates", JSON, nullable=False),  # [{"subject_id", "name", "kind", "birth_date"}]
    Column("status", String(16), nullable=False),  # open / resolved / rejected
    Column("resolved_subject_id", ID),
    Column("resolved_by", Text),
    Column("resolved_at", DateTime(timezone=True)),
    Column("note", Text),  # why a review was rejected
    Index("ix_review_queue_status", "status"),
)

derive_runs = Table(
    "derive_runs",
    metadata,
    Column("run_id", Key, primary_key=True, autoincrement=True),
    Column("mode", String(16), nullable=False),  # full / incremental
    Column("as_of", Date, nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("high_water_seq", BigInteger, nullable=False),
    Column("subjects", BigInteger, nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    Column("seconds", Float),
)

ratings = Table(
    "ratings",
    metadata,
    Column("subject_id", ID, primary_key=True),
    Column("rating", String(64), primary_key=True),
    Column("score", Integer, nullable=False),
    Column("band", String(8), nullable=False),
    Column("reasons", JSON, nullable=False),  # [{"code", "points", "records": [...]}], at most 4
)

list_entries = Table(
    "list_entries",
    metadata,
    Column("list_code", String(64), primary_key=True),
    Column("subject_id", ID, primary_key=True),
    Column("furnisher", ID, primary_key=True),
    Column("record_id", String(128), primary_key=True),
    Column("start_on", Date, nullable=False),
    Column("end_on", Date),  # None: no fixed term (until a removal condition)
    Column("basis", Text, nullable=False),
    Column("document_no", String(128), nullable=False),
    # Added by migration 0002 (hence last, as ALTER TABLE put them):
    Column("ground", String(64)),  # the record's ground (as amended), shown when published
    Column("amount_fen", BigInteger),  # the record's amount (as amended)
    Index("ix_list_entries_subject", "subject_id"),
)

decisions = Table(
    "decisions",
    metadata,
    Column("subject_id", ID, primary_key=True),
    Column("measure", String(64), primary_key=True),
    Column("list_code", String(64), primary_key=True),
    Column("source_subject_id", ID, primary_key=True),  # differs when extended to a legal rep
    Column("effect", String(16), nullable=False),  # restricted / granted
    Column("memorandum", String(64), nullable=False),
    Column("basis", Text, nullable=False),
    Column("start_on", Date, nullable=False),
    Column("end_on", Date),
    Index("ix_decisions_measure", "measure", "subject_id"),
)

# --- service surface (API): keys, inquiries, consents, audit -----------------------------------

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", Key, primary_key=True, autoincrement=True),
    Column("name", Text, nullable=False),
    Column("role", String(16), nullable=False),  # furnisher/inquirer/integrator/subject/operator
    Column("furnisher", ID),  # bound furnisher code (role furnisher)
    Column("subject_id", ID),  # bound subject (role subject)
    Column("purposes", Text),  # purposes it may state, space-separated (role inquirer)
    Column("prefix", String(16), nullable=False, unique=True),  # shown in logs; not secret
    Column("key_hash", String(64), nullable=False),  # sha256 of the secret part; never the key
    Column("rate_per_minute", Integer, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True)),
    # An active inquirer key's name as names are compared (``inquiries.same_inquirer``); null
    # once revoked and for other roles. Unique: subjects' consents name inquirers by name.
    Column("inquirer_name", Text),
    Index("ix_api_keys_inquirer_name", "inquirer_name", unique=True),
)

inquiries = Table(
    "inquiries",
    metadata,
    Column("inquiry_id", Key, primary_key=True, autoincrement=True),
    Column("subject_id", ID, nullable=False),
    Column("key_id", Key, ForeignKey("api_keys.key_id"), nullable=False),
    Column("inquirer", Text, nullable=False),  # the key's name, as the subject will see it
    Column("purpose", String(32), nullable=False),
    Column("shown", JSON, nullable=False),  # which sections were disclosed
    Column("at", DateTime(timezone=True), nullable=False),
    Index("ix_inquiries_subject", "subject_id", "at"),
)

consents = Table(
    "consents",
    metadata,
    Column("consent_id", Key, primary_key=True, autoincrement=True),
    Column("subject_id", ID, nullable=False),
    Column("inquirer", Text, nullable=False),  # name of the inquirer key the consent is for
    Column("purpose", String(32), nullable=False),
    Column("granted_at", DateTime(timezone=True), nullable=False),
    Column("withdrawn_at", DateTime(timezone=True)),
    Index("ix_consents_subject", "subject_id", "inquirer", "purpose"),
)

audit_log = Table(
    "audit_log",
    metadata,
    Column("audit_id", Key, primary_key=True, autoincrement=True),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("key_id", Key),  # None for the public surface
    Column("role", String(16)),
    Column("method", String(8), nullable=False),
    Column("route", Text, nullable=False),
    Column("subject_id", ID),
    Column("status", Integer, nullable=False),
    Column("outcome", String(32), nullable=False),
    Index("ix_audit_log_at", "at"),
)

# Columns of the derived tables in order, for engines that write them set-wise.
DERIVED_TABLES = (ratings, list_entries, decisions)

__all__ = [
    "DERIVED_TABLES",
    "api_keys",
    "audit_log",
    "consents",
    "decisions",
    "derive_runs",
    "events",
    "ingest_batches",
    "inquiries",
    "list_entries",
    "metadata",
    "policy_versions",
    "quarantine",
    "ratings",
    "review_queue",
    "subjects",
]
