"""What one running service holds: the engine, the keys and decision index it follows, the
policy in force, the audit writer and the rate limiter; and the thread that keeps them current.

``StoreWatcher`` polls the store every ``watch_seconds`` (a few tiny queries) and, when a new
derivation run, policy version or key change appears, reloads what changed and swaps it in with
one assignment, so request handlers always see a consistent snapshot without locks.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, func, select

from socialcredit.api.config import ApiSettings
from socialcredit.api.metrics import Metrics
from socialcredit.api.ratelimit import RateLimiter
from socialcredit.errors import NotFound
from socialcredit.forksafe import sqlite_work
from socialcredit.policy.schema import Policy
from socialcredit.services import keys as key_service
from socialcredit.services.audit import AuditWriter
from socialcredit.services.decision_index import DecisionIndex, build_index
from socialcredit.settings import Settings
from socialcredit.store.policies import policy_in_force
from socialcredit.store.runs import last_finished_run
from socialcredit.store.tables import policy_versions

log = logging.getLogger(__name__)


class VerifiedKeys:
    """Key strings already verified against one in-memory key set (``ServiceState.keys``),
    so a request with a known key costs one dictionary look-up, not a parse and a hash.

    Valid while that set is in force: the store watcher replaces the set whenever a key is
    created or revoked, and the entries are dropped then. Only keys of the set are kept, so
    there is at most one entry per active key. Used from the event loop only."""

    def __init__(self) -> None:
        self._of: dict[str, key_service.ApiKey] | None = None
        self._verified: dict[str, key_service.ApiKey] = {}

    def get(self, keys: dict[str, key_service.ApiKey], presented: str) -> key_service.ApiKey | None:
        return self._verified.get(presented) if keys is self._of else None

    def add(
        self, keys: dict[str, key_service.ApiKey], presented: str, key: key_service.ApiKey
    ) -> None:
        if keys is not self._of:
            self._of, self._verified = keys, {}
        self._verified[presented] = key


@dataclass
class ServiceState:
    settings: Settings
    api: ApiSettings
    engine: Engine
    audit: AuditWriter
    limiter: RateLimiter
    metrics: Metrics
    keys: dict[str, key_service.ApiKey] = field(default_factory=dict)
    verified: VerifiedKeys = field(default_factory=VerifiedKeys)
    index: DecisionIndex | None = None
    policy: Policy | None = None
    index_built_at: float = 0.0

    def require_policy(self) -> Policy:
        if self.policy is None:
            raise NotFound("no policy is in force: run `socialcredit init` on this store")
        return self.policy

    def require_index(self) -> DecisionIndex:
        if self.index is None:
            raise NotFound("the decision index is not built yet: the store has no policy")
        return self.index


def _policy_fingerprint(engine: Engine) -> tuple[Any, ...]:
    with engine.connect() as conn:
        row = conn.execute(select(func.count(), func.max(policy_versions.c.loaded_at))).one()
        run = last_finished_run(conn)
        return (*tuple(row), run.run_id if run else None)


class StoreWatcher:
    """Follows the store: derivation runs, policy versions, keys; one daemon thread."""

    def __init__(self, state: ServiceState) -> None:
        self.state = state
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._serving_fp: tuple[Any, ...] | None = None
        self._keys_fp: tuple[Any, ...] | None = None

    def refresh(self) -> None:
        """Reload whatever changed since the last call (also called once at start)."""
        engine = self.state.engine
        with engine.connect() as conn:
            keys_fp = key_service.keys_fingerprint(conn)
            if keys_fp != self._keys_fp:
                self.state.keys = key_service.active_keys(conn)
                self._keys_fp = keys_fp
        serving_fp = (*_policy_fingerprint(engine), dt.date.today())
        if serving_fp != self._serving_fp:
            self._rebuild()
            self._serving_fp = serving_fp

    def _rebuild(self) -> None:
        engine = self.state.engine
        try:
            policy: Policy | None = policy_in_force(engine, dt.date.today()).policy
        except NotFound:
            policy = None
        started = time.perf_counter()
        with engine.connect() as conn:
            index = build_index(
                conn,
                measures=[m.code for m in policy.measures] if policy else [],
                policy_version=policy.version if policy else None,
            )
        self.state.policy = policy
        self.state.index = index
        self.state.index_built_at = time.time()
        self.state.metrics.index_built(index, time.perf_counter() - started)
        log.info("decision index rebuilt: %s", index.stats())

    def _run(self) -> None:
        while not self._stop.wait(self.state.api.watch_seconds):
            try:
                with sqlite_work():  # see forksafe.py
                    self.refresh()
            except Exception:  # a store hiccup must not stop the service following it
                log.exception("store watcher: refresh failed; keeping the previous state")

    def start(self) -> None:
        self.refresh()
        self._thread = threading.Thread(target=self._run, name="store-watcher", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
