"""Benchmark: project-server spawn latency, first-cell latency and concurrent servers on one machine.

Run as root (it creates throw-away Unix accounts and project groups, removed at the end)::

    .venv/bin/python benchmarks/spawn.py [--spawns 10] [--concurrent 20] [--json out.json]

It builds a throw-away sandbox (registry, two projects with a Parquet release each, accounts, the
single-user environment, a hub on free loopback ports: the same code as ``hdc sandbox up``) and
measures, through the hub's REST API and kernel websockets as a client would see them:

1. **spawn to ready**: ``POST /hub/api/users/<u>/servers/<project>`` until the server is ready, over
   ``--spawns`` sequential spawns (each server stopped again before the next); p50 / p95 / max;
2. **first cell**: on each of those servers, start a kernel, wait until it answers (``kernel_info``:
   the notebook is open and its kernel idle), then run a first cell that imports pyarrow and reads the
   project's release; the cell's latency (execute request to reply) and, separately, the kernel start;
3. **concurrency**: ``--concurrent`` servers started at once (one per person, projects alternating),
   all ready, then one cell run in every one of them; wall time, failures, the servers' total memory
   (RSS of every process of the test accounts), and one more spawn and cell while they all run.

Targets (issue 4): p95 spawn-to-ready <= 5 s, first cell <= 1 s, 20 concurrent servers.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CELL = (
    "import os, pyarrow.parquet as pq\n"
    "t = pq.read_table(os.path.join(os.environ['HDC_DATA_DIR'], 'cohort.parquet'))\n"
    "print(t.num_rows, os.environ['HDC_PROJECT'])"
)


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    k = (len(ordered) - 1) * q
    lo, hi = int(k), min(int(k) + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (k - lo)


def _summary(values: list[float]) -> dict[str, float]:
    return {
        "n": len(values),
        "p50": round(statistics.median(values), 3) if values else float("nan"),
        "p95": round(_pct(values, 0.95), 3),
        "max": round(max(values), 3) if values else float("nan"),
        "mean": round(statistics.fmean(values), 3) if values else float("nan"),
    }


def build_world(home: Path, people: int, tag: str) -> dict[str, Any]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from hdc_toolkit.config import Settings
    from hdc_toolkit.hub import unix
    from hdc_toolkit.projects.registry import Member, Project, open_registry
    from hdc_toolkit.projects.workspace import Workspace, make_read_only

    settings = Settings(home=home, database_url=f"sqlite:///{home / 'registry.sqlite'}")
    projects = [f"b{tag}-one", f"b{tag}-two"]
    users = [f"u{i:02d}" for i in range(people)]
    registry = open_registry(settings)
    with registry.write() as s:
        for pid in projects:
            s.add(Project(id=pid, title=f"benchmark {pid}", state="active"))
        s.flush()
        for i, user in enumerate(users):
            s.add(
                Member(project_id=projects[i % 2], username=user, name=user, role="researcher", active=True)
            )
    for pid in projects:
        ws = Workspace(settings, pid).create()
        ws.data.mkdir(exist_ok=True)
        pq.write_table(pa.table({"x": list(range(1000))}), ws.data / "cohort.parquet")
        make_read_only(ws.data)
    prefix = f"hdcb{tag}-"
    report = unix.sync_unix(settings, unix_prefix=prefix)
    return {
        "settings": settings,
        "projects": projects,
        "users": users,
        "prefix": prefix,
        "groups": list(report.groups),
    }


def memory_of(uids: set[int]) -> int:
    import psutil

    total = 0
    for proc in psutil.process_iter(["uids", "memory_info"]):
        try:
            if proc.info["uids"] and proc.info["uids"].real in uids:
                total += proc.info["memory_info"].rss
        except (psutil.NoSuchProcess, TypeError):
            continue
    return total


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--spawns", type=int, default=10, help="sequential spawns measured (default 10)")
    parser.add_argument("--concurrent", type=int, default=20, help="servers running at once (default 20)")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument("--hub-log", type=Path, help="keep a copy of the hub's log here")
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("benchmarks/spawn.py needs root (it creates Unix accounts)", file=sys.stderr)
        return 2

    import psutil

    from hdc_toolkit.hub import unix
    from hdc_toolkit.hub.client import HubClient
    from hdc_toolkit.hub.environment import DEFAULT_PREFIX, ensure_singleuser_env
    from hdc_toolkit.hub.policy import unix_name
    from hdc_toolkit.hub.runner import HubPorts, LocalHub, ensure_proxy

    tag = secrets.token_hex(2)
    home = Path(tempfile.mkdtemp(prefix=f"hdc-bench-{tag}-", dir="/tmp"))
    os.chmod(home, 0o711)
    people = max(args.concurrent + 1, 2)
    hub = None
    world: dict[str, Any] = {}
    figures: dict[str, Any] = {
        "machine": {
            "cpus": psutil.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "load_avg_start": [round(x, 2) for x in os.getloadavg()],
        }
    }
    try:
        env_prefix = Path(os.environ.get("HDC_SANDBOX_ENV") or DEFAULT_PREFIX)
        ensure_singleuser_env(env_prefix, refresh_toolkit=False)
        ensure_proxy()
        world = build_world(home, people, tag)
        token = secrets.token_hex(32)
        hub = LocalHub(
            state_dir=home / "sandbox",
            env={
                "HDC_HOME": str(home),
                "HDC_DATABASE_URL": world["settings"].database_url,
                "HDC_SANDBOX_ENV": str(env_prefix),
                "HDC_SANDBOX_PASSWORD": secrets.token_urlsafe(12),
                "HDC_SANDBOX_UNIX_PREFIX": world["prefix"],
                "HDC_SANDBOX_API_TOKEN": token,
            },
            ports=HubPorts.free(),
        ).start()
        figures["hub_start_seconds"] = round(hub.wait_ready(), 2)
        client = HubClient(hub.url, token, timeout=120)
        users, projects = world["users"], world["projects"]
        for user in users:
            client.create_user(user)
        project_of = {u: projects[i % 2] for i, u in enumerate(users)}

        # 1 + 2: sequential spawns, a first cell on each
        spawn, first_cell, kernel, cell_only, stop = [], [], [], [], []
        for i in range(args.spawns):
            user = users[i % 2]  # alternate projects; the same two people restart their servers
            result = client.start_server(user, project_of[user])
            if not result.ok:
                raise RuntimeError(f"spawn {i} failed: {result}\n{hub.log_tail()}")
            spawn.append(result.seconds)
            cell = client.execute(user, project_of[user], CELL)
            if not cell.ok or not cell.stdout.startswith("1000 "):
                raise RuntimeError(f"cell failed: {cell}")
            first_cell.append(cell.seconds)
            kernel.append(cell.kernel_seconds)
            cell_only.append(cell.cell_seconds)
            stop.append(client.stop_server(user, project_of[user]))
            print(
                f"spawn {i + 1:2d}: ready {result.seconds:5.2f} s; kernel {cell.kernel_seconds:4.2f} s, "
                f"first cell {cell.cell_seconds:4.2f} s (together {cell.seconds:4.2f} s)",
                flush=True,
            )
        figures["spawn_to_ready"] = _summary(spawn)
        figures["first_cell"] = _summary(cell_only)
        figures["kernel_start"] = _summary(kernel)
        figures["kernel_start_plus_first_cell"] = _summary(first_cell)
        figures["stop"] = _summary(stop)

        # 3: concurrency
        crowd = users[: args.concurrent]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(len(crowd)) as pool:
            results = list(pool.map(lambda u: client.start_server(u, project_of[u], timeout=300), crowd))
        all_ready = time.perf_counter() - t0
        ok = [r for r in results if r.ok]
        with ThreadPoolExecutor(4) as pool:
            cells = list(pool.map(lambda u: client.execute(u, project_of[u], CELL, timeout=120), crowd))
        import pwd

        uids = {pwd.getpwnam(unix_name(u, world["prefix"])).pw_uid for u in crowd}
        rss = memory_of(uids)
        extra_user = users[args.concurrent]
        extra = client.start_server(extra_user, project_of[extra_user])
        extra_cell = client.execute(extra_user, project_of[extra_user], CELL) if extra.ok else None
        figures["concurrent"] = {
            "servers_requested": len(crowd),
            "servers_ready": len(ok),
            "cells_ok": sum(1 for c in cells if c.ok),
            "all_ready_seconds": round(all_ready, 2),
            "spawn_to_ready_under_crowd": _summary([r.seconds for r in ok]),
            "first_cell_under_crowd": _summary([c.cell_seconds for c in cells if c.ok]),
            "kernel_start_plus_first_cell_under_crowd": _summary([c.seconds for c in cells if c.ok]),
            "servers_rss_gib": round(rss / 2**30, 2),
            "rss_per_server_mib": round(rss / max(len(ok), 1) / 2**20, 1),
            "one_more_spawn_seconds": round(extra.seconds, 2),
            "one_more_first_cell_seconds": round(extra_cell.cell_seconds, 2) if extra_cell else None,
            "memory_available_gib": round(psutil.virtual_memory().available / 2**30, 1),
        }
        figures["machine"]["load_avg_end"] = [round(x, 2) for x in os.getloadavg()]
        t0 = time.perf_counter()
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda u: client.stop_server(u, project_of[u]), [*crowd, extra_user]))
        figures["concurrent"]["stop_all_seconds"] = round(time.perf_counter() - t0, 2)
    finally:
        if hub is not None:
            hub.stop()
            if args.hub_log:
                shutil.copy(hub.log_path, args.hub_log)
        if world:
            import pwd

            accounts = [unix_name(u, world["prefix"]) for u in world["users"]]
            uids = set()
            for name in accounts:
                try:
                    uids.add(pwd.getpwnam(name).pw_uid)
                except KeyError:
                    pass
            for proc in psutil.process_iter(["uids"]):
                try:
                    if proc.info["uids"] and proc.info["uids"].real in uids:
                        proc.kill()
                except psutil.NoSuchProcess:
                    pass
            for name in accounts:
                unix.remove_user(name)
            for group in world["groups"]:
                unix.remove_group(group)
        shutil.rmtree(home, ignore_errors=True)

    targets = {
        "spawn_to_ready_p95 <= 5 s": figures["spawn_to_ready"]["p95"] <= 5,
        "first_cell_p95 <= 1 s": figures["first_cell"]["p95"] <= 1,
        "20 concurrent servers": figures["concurrent"]["servers_ready"] >= 20
        and figures["concurrent"]["cells_ok"] >= 20,
    }
    figures["targets_met"] = targets
    print(json.dumps(figures, indent=2))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
