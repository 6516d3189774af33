"""Benchmark of the restriction check over HTTP, against a no-op baseline measured in the same run.

Builds a derived store (a synthetic population with a share of listed persons, their decisions
written set-wise as a derivation would), starts ``socialcredit serve`` on 127.0.0.1 (uvicorn,
httptools, uvloop), and drives it from 64 keep-alive connections for a bounded time per phase:

1. ``GET /v1/whoami``, the no-op baseline: the same middleware, fast path, key check, rate
   limit and audit record as a check, and no decision index look-up;
2. ``GET /v1/checks/flight/{id}`` for random registered subjects (a tenth of them listed):
   rate, p50, p99;
3. ``GET /healthz``, for reference: FastAPI's own routing, no key, not audited;
4. ``POST /v1/checks`` with 1,000 registered subjects per request: subjects per second;
5. the same with 1,000 valid but unregistered IDs (every one validated): subjects per second.

Each phase also reports the server's CPU time per request (user + system, from /proc), which
the machine's other load disturbs far less than rates and latencies. Every figure is the median
of ``--rounds`` rounds (the machine may be busy with other jobs); the whole set runs once per
``--workers`` value (default 1 and 2) on the same store. The load
generator is a small HTTP/1.1 client on uvloop (one request in flight per connection), so that
its own cost stays well below the server's; it shares the machine's cores with the server.
Loopback only. The last line is a JSON object: noop_rps, check_rps, check_p50_ms, check_p99_ms,
batch_subjects_per_s, ratio (check_rps / noop_rps), cpu_ratio (the same by server CPU per
request) and index_bytes_per_listed_subject (read from the server's /metrics) for the first
workers value, and every run under "runs".

    .venv/bin/python bench/check_api.py [--persons 200000] [--seconds 5] [--rounds 3]
                                        [--workers 1 2]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import uvloop
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
    everyone = resident_ids(persons + 20_000, rng)
    strangers = set(rng.choice(everyone, 20_000, replace=False).tolist())
    population = np.array([s for s in everyone.tolist() if s not in strangers])
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
        inserted = conn.execute(
            insert(derive_runs).values(
                mode="full",
                as_of=today,
                policy_version=version,
                high_water_seq=0,
                subjects=len(population),
                started_at=now,
            )
        ).inserted_primary_key
        assert inserted is not None
        run_id = inserted[0]
        starts = today - dt.timedelta(days=1)
        rows: list[dict[str, Any]] = []
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
        "strangers": sorted(strangers),
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
    """``socialcredit serve`` (which runs uvicorn with httptools and uvloop)."""
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


def tree_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by a process and its descendants (Linux /proc):
    the server's cost, which other jobs on the machine slow down far less than its rate."""
    ticks = os.sysconf("SC_CLK_TCK")
    parent: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:  # ended meanwhile
            continue
        fields = stat[stat.rindex(")") + 2 :].split()
        parent[int(entry)] = int(fields[1])
        used[int(entry)] = (int(fields[11]) + int(fields[12])) / ticks
    tree, frontier = {pid}, [pid]
    while frontier:
        children = [p for p, pp in parent.items() if pp in frontier and p not in tree]
        tree.update(children)
        frontier = children
    return sum(used.get(p, 0.0) for p in tree)


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
    assert all(r["known"] for r in body["results"])
    strangers = store["strangers"][:1000]
    body = httpx.post(base, headers=headers, json={"measure": "flight", "subjects": strangers})
    assert [(r["subject_id"], r["known"]) for r in body.json()["results"]] == [
        (s, False) for s in strangers
    ], body.text[:500]
    whoami = httpx.get(f"http://127.0.0.1:{port}/v1/whoami", headers=headers).json()
    assert whoami["role"] == "integrator", whoami


def run(
    server: subprocess.Popen[bytes], port: int, args: argparse.Namespace, store: dict[str, Any]
) -> dict[str, Any]:
    """``args.rounds`` rounds of the five phases against one server, a line per phase; the
    median of each figure over the rounds. The no-op and the check run back to back, and the
    ratio is the median of each round's own ratio: the machine's other load moves both alike."""
    auth = f"Authorization: Bearer {store['key']}\r\n"
    rng = random.Random(args.seed)
    mix = [rng.choice(store["listed"]) if rng.random() < 0.1
           else rng.choice(store["population"]) for _ in range(20_000)]  # fmt: skip
    singles = [get(f"/v1/checks/flight/{s}", auth) for s in mix]

    def batches(pool: list[str]) -> list[bytes]:
        return [post("/v1/checks", auth, json.dumps(
            {"measure": "flight", "subjects": rng.sample(pool, 1000)}).encode())
            for _ in range(50)]  # fmt: skip

    phases = {
        "noop": ([get("/v1/whoami", auth)], "no-op  GET /v1/whoami (key, limit, audit)"),
        "check": (singles, "check  GET /v1/checks/flight/ID         "),
        "bare": ([get("/healthz", "")], "bare   GET /healthz (FastAPI, no key)   "),
        "batch": (batches(store["population"]), "batch  POST /v1/checks x1000 registered "),
        "unknown": (batches(store["strangers"]), "batch  POST /v1/checks x1000 unregistered"),
    }
    rounds: dict[str, list[dict[str, Any]]] = {name: [] for name in phases}
    for number in range(1, args.rounds + 1):
        for name, (requests, label) in phases.items():
            cpu = tree_cpu_seconds(server.pid)
            result = uvloop.run(drive(port, requests, args.seconds))
            used = tree_cpu_seconds(server.pid) - cpu
            result["server_cpu_us"] = used / result["requests"] * 1e6
            rounds[name].append(result)
            rate = f"{result['rps'] * 1000:10.0f} subjects/s" if name in ("batch", "unknown") else (
                f"{result['rps']:10.0f} req/s     ")  # fmt: skip
            print(
                f"{number} {label} {rate}  p50 {result['p50_ms']:7.2f} ms  "
                f"p99 {result['p99_ms']:7.2f} ms  server CPU {result['server_cpu_us']:6.0f} us"
            )
    figures = ("rps", "p50_ms", "p99_ms", "server_cpu_us")
    out: dict[str, Any] = {
        name: {f: statistics.median(r[f] for r in results) for f in figures}
        for name, results in rounds.items()
    }
    pairs = list(zip(rounds["noop"], rounds["check"], strict=True))
    out["ratio"] = statistics.median(c["rps"] / n["rps"] for n, c in pairs)
    out["cpu_ratio"] = statistics.median(n["server_cpu_us"] / c["server_cpu_us"] for n, c in pairs)
    out["errors"] = sum(r["errors"] for results in rounds.values() for r in results)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=200_000)
    parser.add_argument("--listed-share", type=float, default=0.05)
    parser.add_argument("--seconds", type=float, default=5.0, help="per phase and round")
    parser.add_argument("--rounds", type=int, default=3, help="figures are medians over rounds")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    runs: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="sc-bench-") as tmp:
        url = f"sqlite:///{os.path.join(tmp, 'bench.db')}"
        began = time.perf_counter()
        store = build_store(url, args.persons, args.listed_share, args.seed)
        print(
            f"store: {len(store['population'])} persons, {len(store['listed'])} listed, "
            f"{store['decision_rows']} decisions ({time.perf_counter() - began:.1f} s)"
        )
        for workers in args.workers:
            print(
                f"--- {workers} worker(s), {CONNECTIONS} connections, "
                f"{args.rounds} rounds of {args.seconds:g} s a phase"
            )
            port = free_port()
            server = start_server(url, port, workers)
            try:
                verify(port, store["key"], store)
                phases = run(server, port, args, store)
                text = httpx.get(f"http://127.0.0.1:{port}/metrics").text
                index_bytes = metric(text, "socialcredit_index_decision_bytes")
                listed_n = metric(text, "socialcredit_index_listed_subjects")
            finally:
                server.terminate()
                server.wait(timeout=30)
            noop, check = phases["noop"], phases["check"]
            runs.append(
                {
                    "workers": workers,
                    "noop_rps": round(noop["rps"]),
                    "bare_healthz_rps": round(phases["bare"]["rps"]),
                    "check_rps": round(check["rps"]),
                    "check_p50_ms": round(check["p50_ms"], 3),
                    "check_p99_ms": round(check["p99_ms"], 3),
                    "noop_p99_ms": round(noop["p99_ms"], 3),
                    "batch_subjects_per_s": round(phases["batch"]["rps"] * 1000),
                    "batch_unregistered_subjects_per_s": round(phases["unknown"]["rps"] * 1000),
                    "ratio": round(phases["ratio"], 3),
                    "noop_server_cpu_us": round(noop["server_cpu_us"], 1),
                    "check_server_cpu_us": round(check["server_cpu_us"], 1),
                    "batch_server_cpu_us": round(phases["batch"]["server_cpu_us"], 1),
                    "cpu_ratio": round(phases["cpu_ratio"], 3),
                    "index_bytes_per_listed_subject": (
                        round(index_bytes / listed_n, 1) if listed_n else None
                    ),
                    "listed_subjects": int(listed_n),
                    "errors": phases["errors"],
                }
            )
            print(
                f"ratio check/no-op {runs[-1]['ratio']} (by server CPU per request: "
                f"{runs[-1]['cpu_ratio']}); decision index "
                f"{runs[-1]['index_bytes_per_listed_subject']} bytes per listed subject"
            )
    result = {
        **runs[0],
        "known_subjects": len(store["population"]),
        "connections": CONNECTIONS,
        "seconds_per_phase": args.seconds,
        "rounds": args.rounds,
        "noop": "GET /v1/whoami: same middleware, fast path, key check, rate limit and audit",
        "runs": runs,
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
