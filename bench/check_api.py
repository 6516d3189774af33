"""Benchmark of the restriction check over HTTP, against a no-op baseline measured in the same run.

Builds a derived store (a synthetic population with a share of listed persons, their decisions
written set-wise as a derivation would), starts ``socialcredit serve`` on 127.0.0.1, and drives
it from 64 keep-alive connections for a bounded time per phase:

1. ``GET /healthz`` (the no-op baseline: routing, middleware, JSON);
2. ``GET /v1/checks/flight/{id}`` for random subjects (a tenth of them listed): rate, p50, p99;
3. ``POST /v1/checks`` with 1,000 subjects per request: subjects per second.

The load generator is a small asyncio HTTP/1.1 client (one request in flight per connection),
so that the client's own cost stays well below the server's. Loopback only. The last line is a
JSON object: noop_rps, check_rps, check_p50_ms, check_p99_ms, batch_subjects_per_s, ratio
(check_rps / noop_rps) and index_bytes_per_listed_subject (read from the server's /metrics).

    .venv/bin/python bench/check_api.py [--persons 200000] [--seconds 8] [--workers 1]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import insert

from socialcredit.policy.load import load_default
from socialcredit.services.keys import create_key
from socialcredit.store.engine import make_engine, upgrade
from socialcredit.store.policies import save_policy
from socialcredit.store.tables import decisions, derive_runs, subjects

CONNECTIONS = 64
AREAS = np.array(["110105", "110101", "310101", "440106", "510104", "420102"])
RIC_WEIGHTS = np.array([7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2])
RIC_CHECK = np.array(list("10X98765432"))
CONSUMPTION = ["flight", "g_train", "soft_sleeper", "star_hotel", "real_estate",
               "private_school", "luxury_travel"]  # fmt: skip
PROCUREMENT = ["public_tender", "fiscal_subsidy"]


# --- the store ----------------------------------------------------------------------------------


def resident_ids(n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` distinct valid resident IDs, vectorised (GB 11643 MOD 11-2 check character)."""
    born = np.datetime64("1950-01-01") + rng.integers(0, 18_000, n * 2)
    days = np.char.replace(np.datetime_as_string(born, unit="D"), "-", "")
    serial = np.char.zfill(rng.integers(0, 1000, n * 2).astype(str), 3)
    body = np.char.add(np.char.add(AREAS[rng.integers(0, len(AREAS), n * 2)], days), serial)
    body = np.unique(body)[:n]
    digits = np.frombuffer("".join(body.tolist()).encode(), dtype=np.uint8).reshape(-1, 17) - 48
    check = RIC_CHECK[(digits.astype(np.int64) @ RIC_WEIGHTS) % 11]
    return np.char.add(body, check)


def build_store(url: str, persons: int, listed_share: float, seed: int) -> dict[str, Any]:
    rng = np.random.default_rng(seed)
    engine = make_engine(url)
    upgrade(engine)
    loaded = load_default()
    save_policy(engine, loaded)
    version = loaded.policy.version
    population = resident_ids(persons, rng)
    listed = population[rng.random(len(population)) < listed_share]
    now = dt.datetime.now(dt.UTC)
    today = dt.date.today()
    with engine.begin() as conn:
        for start in range(0, len(population), 50_000):
            conn.execute(
                insert(subjects),
                [
                    {
                        "subject_id": s,
                        "scheme": "cn_ric",
                        "kind": "person",
                        "name": "某",
                        "first_seen": now,
                    }
                    for s in population[start : start + 50_000].tolist()
                ],
            )
        run_id = conn.execute(
            insert(derive_runs).values(
                mode="full",
                as_of=today,
                policy_version=version,
                high_water_seq=0,
                subjects=len(population),
                started_at=now,
            )
        ).inserted_primary_key[0]
        starts = today - dt.timedelta(days=1)
        rows = []
        for i, subject_id in enumerate(listed.tolist()):
            start_on = starts - dt.timedelta(days=i % 700)
            for measures, memo in (
                (CONSUMPTION, "spc_consumption"),
                (PROCUREMENT, "severe_list_procurement"),
            ):
                rows.extend(
                    {
                        "subject_id": subject_id,
                        "measure": m,
                        "list_code": "court_defaulters",
                        "source_subject_id": subject_id,
                        "effect": "restricted",
                        "memorandum": memo,
                        "basis": f"memorandum {memo}",
                        "start_on": start_on,
                        "end_on": start_on + dt.timedelta(days=730),
                        "policy_version": version,
                        "as_of": today,
                        "run_id": run_id,
                    }
                    for m in measures
                )
        for start in range(0, len(rows), 50_000):
            conn.execute(insert(decisions), rows[start : start + 50_000])
        conn.execute(
            derive_runs.update()
            .where(derive_runs.c.run_id == run_id)
            .values(finished_at=dt.datetime.now(dt.UTC))
        )
    key = create_key(engine, role="integrator", name="bench", rate_per_minute=100_000_000)
    engine.dispose()
    return {
        "population": population.tolist(),
        "listed": listed.tolist(),
        "key": key,
        "decision_rows": len(rows),
    }


# --- the server ---------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    cli = Path(sys.executable).with_name("socialcredit")
    command = [str(cli), "serve", "--db", url, "--host", "127.0.0.1", "--port", str(port),
               "--workers", str(workers)]  # fmt: skip
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("the server did not start within 60 s")


# --- the load -----------------------------------------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection, one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    async def request(self, raw: bytes) -> tuple[int, bytes]:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = 0
        for line in head.split(b"\r\n"):
            if line[:15].lower() == b"content-length:":
                length = int(line[15:])
        return status, await self.reader.readexactly(length)


def get(path: str, headers: str) -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: bench\r\n{headers}\r\n".encode()


def post(path: str, headers: str, body: bytes) -> bytes:
    return (
        f"POST {path} HTTP/1.1\r\nHost: bench\r\n{headers}Content-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body


async def drive(port: int, requests: list[bytes], seconds: float) -> dict[str, Any]:
    """64 connections send the prepared requests round-robin for ``seconds``."""
    conns = [Connection(*await asyncio.open_connection("127.0.0.1", port))
             for _ in range(CONNECTIONS)]  # fmt: skip
    latencies: list[float] = []
    errors = 0
    stop = time.perf_counter() + seconds

    async def loop(conn: Connection, offset: int) -> None:
        nonlocal errors
        i = offset
        while time.perf_counter() < stop:
            started = time.perf_counter()
            status, _ = await conn.request(requests[i % len(requests)])
            latencies.append(time.perf_counter() - started)
            errors += status != 200
            i += CONNECTIONS

    began = time.perf_counter()
    await asyncio.gather(*(loop(c, n) for n, c in enumerate(conns)))
    elapsed = time.perf_counter() - began
    for conn in conns:
        conn.writer.close()
    ms = np.array(latencies) * 1000
    return {
        "requests": len(latencies),
        "rps": len(latencies) / elapsed,
        "errors": errors,
        "p50_ms": float(np.percentile(ms, 50)),
        "p99_ms": float(np.percentile(ms, 99)),
    }


def metric(text: str, name: str) -> float:
    line = next(x for x in text.splitlines() if x.startswith(name + " "))
    return float(line.split()[1])


def verify(port: int, key: str, store: dict[str, Any]) -> None:
    """The figures mean something only if the answers are right."""
    headers = {"Authorization": f"Bearer {key}"}
    listed, population = store["listed"][0], store["population"]
    base = f"http://127.0.0.1:{port}/v1/checks"
    one = httpx.get(f"{base}/flight/{listed}", headers=headers).json()
    assert one["restricted"] and one["entries"][0]["list_code"] == "court_defaulters", one
    sample = population[:1000]
    body = httpx.post(base, headers=headers, json={"measure": "flight", "subjects": sample}).json()
    listed_set = set(store["listed"])
    assert [r["restricted"] for r in body["results"]] == [s in listed_set for s in sample]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--listed-share", type=float, default=0.05)
    parser.add_argument("--seconds", type=float, default=8.0, help="per phase")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="sc-bench-") as tmp:
        url = f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        began = time.perf_counter()
        store = build_store(url, args.persons, args.listed_share, args.seed)
        print(
            f"store: {len(store['population'])} persons, {len(store['listed'])} listed, "
            f"{store['decision_rows']} decisions ({time.perf_counter() - began:.1f} s)"
        )
        port = free_port()
        server = start_server(url, port, args.workers)
        try:
            verify(port, store["key"], store)
            auth = f"Authorization: Bearer {store['key']}\r\n"
            rng = random.Random(args.seed)
            mix = [rng.choice(store["listed"]) if rng.random() < 0.1
                   else rng.choice(store["population"]) for _ in range(20_000)]  # fmt: skip
            singles = [get(f"/v1/checks/flight/{s}", auth) for s in mix]
            batches = [post("/v1/checks", auth, json.dumps(
                {"measure": "flight", "subjects": rng.sample(store["population"], 1000)}).encode())
                for _ in range(50)]  # fmt: skip

            noop = asyncio.run(drive(port, [get("/healthz", "")], args.seconds))
            print(
                f"no-op  GET /healthz            {noop['rps']:9.0f} req/s  "
                f"p50 {noop['p50_ms']:.2f} ms  p99 {noop['p99_ms']:.2f} ms"
            )
            check = asyncio.run(drive(port, singles, args.seconds))
            print(
                f"check  GET /v1/checks/flight/ID {check['rps']:9.0f} req/s  "
                f"p50 {check['p50_ms']:.2f} ms  p99 {check['p99_ms']:.2f} ms"
            )
            batch = asyncio.run(drive(port, batches, args.seconds))
            per_s = batch["rps"] * 1000
            print(
                f"batch  POST /v1/checks x1000    {per_s:9.0f} subjects/s  "
                f"p50 {batch['p50_ms']:.2f} ms per request"
            )
            text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
            index_bytes = metric(text, "socialcredit_index_decision_bytes")
            listed_n = metric(text, "socialcredit_index_listed_subjects")
            failures = noop["errors"] + check["errors"] + batch["errors"]
        finally:
            server.terminate()
            server.wait(timeout=30)
    result = {
        "noop_rps": round(noop["rps"]),
        "check_rps": round(check["rps"]),
        "check_p50_ms": round(check["p50_ms"], 3),
        "check_p99_ms": round(check["p99_ms"], 3),
        "batch_subjects_per_s": round(per_s),
        "ratio": round(check["rps"] / noop["rps"], 3),
        "index_bytes_per_listed_subject": round(index_bytes / listed_n, 1) if listed_n else None,
        "listed_subjects": int(listed_n),
        "known_subjects": len(store["population"]),
        "connections": CONNECTIONS,
        "workers": args.workers,
        "seconds_per_phase": args.seconds,
        "errors": failures,
    }
    print(
        f"ratio check/no-op {result['ratio']}; decision index "
        f"{result['index_bytes_per_listed_subject']} bytes per listed subject"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
