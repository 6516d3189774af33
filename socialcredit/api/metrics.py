"""Prometheus metrics of one service instance (its own registry, so apps never collide)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

if TYPE_CHECKING:
    from socialcredit.services.decision_index import DecisionIndex

_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "socialcredit_http_requests",
            "HTTP requests served",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "socialcredit_http_request_seconds",
            "time to serve a request",
            ["route"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.checked_subjects = Counter(
            "socialcredit_checked_subjects",
            "subjects answered by restriction checks",
            ["measure"],
            registry=self.registry,
        )
        self.index_listed = Gauge(
            "socialcredit_index_listed_subjects",
            "subjects with a decision in the index",
            registry=self.registry,
        )
        self.index_known = Gauge(
            "socialcredit_index_known_subjects",
            "registered subjects in the index",
            registry=self.registry,
        )
        self.index_bytes = Gauge(
            "socialcredit_index_decision_bytes",
            "bytes of the decision arrays",
            registry=self.registry,
        )
        self.index_run = Gauge(
            "socialcredit_index_derive_run",
            "derivation run the index reflects",
            registry=self.registry,
        )
        self.index_build_seconds = Gauge(
            "socialcredit_index_build_seconds",
            "time of the last index build",
            registry=self.registry,
        )
        # Labelled children by label values: ``labels()`` costs more than the increment.
        self._per_request: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self._per_measure: dict[str, Any] = {}

    def index_built(self, index: DecisionIndex, seconds: float) -> None:
        self.index_listed.set(index.listed_count)
        self.index_known.set(index.known_count)
        self.index_bytes.set(index.decision_bytes())
        self.index_run.set(index.run_id or 0)
        self.index_build_seconds.set(seconds)

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        children = self._per_request.get((method, route, status))
        if children is None:
            children = (
                self.requests.labels(method, route, str(status)),
                self.latency.labels(route),
            )
            self._per_request[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def checked(self, measure: str, subjects: int) -> None:
        """Count subjects answered by restriction checks (``measure`` is a known one)."""
        child = self._per_measure.get(measure)
        if child is None:
            child = self._per_measure[measure] = self.checked_subjects.labels(measure)
        child.inc(subjects)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
