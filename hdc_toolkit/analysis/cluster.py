"""One call for a Dask client, from a laptop-sized local cluster to Dask Gateway: :func:`connect`.

Which cluster (first match wins):

1. ``connect(address=...)`` or ``DASK_SCHEDULER_ADDRESS`` / ``HDC_DASK_SCHEDULER``: an existing
   scheduler. It must speak TLS (``tls://`` or ``wss://``) with the client certificates of the
   ``distributed.comm.tls`` configuration. A plain ``tcp://`` address is **refused** unless
   ``allow_plain_tcp=True`` (or ``HDC_DASK_ALLOW_PLAIN_TCP=1``): on a shared host anyone who can reach
   a plain scheduler can run code as its owner and read the project's data (sandbox notes §2.2: bob's
   kernel ran ``os.getuid`` on alice's workers). Allow it only inside one project's own network
   namespace (its pod), never on a shared machine.
2. ``connect(gateway=...)`` or ``DASK_GATEWAY__ADDRESS`` / ``HDC_DASK_GATEWAY``: a new cluster from
   Dask Gateway (production on Kubernetes; the gateway routes TLS scheduler traffic and checks that the
   user may start a cluster for ``HDC_PROJECT``). Options go to ``gateway.cluster_options()``.
3. Otherwise a **local cluster with TLS** (``LocalCluster(security=True)``: temporary certificates, so
   no other local user can connect), on loopback, sized to what this server may use: the CPU quota
   and memory limit of its cgroup, ``CPU_LIMIT`` / ``MEM_LIMIT`` (set by JupyterHub spawners), the
   CPU affinity, and the machine (psutil) — the smallest wins. The workers get ``memory_fraction`` of
   the memory (the rest is left to the notebook kernel itself).

The client is remembered: calling :func:`connect` again returns the same live client (``new=True``
starts another). :func:`close` shuts down what :func:`connect` started.
"""

from __future__ import annotations

import logging
import math
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hdc_toolkit.exceptions import HdcUserError, MissingExtraError

__all__ = ["Resources", "close", "connect", "local_cluster", "resources"]

log = logging.getLogger("hdc_toolkit.analysis")

SCHEDULER_ENV = ("DASK_SCHEDULER_ADDRESS", "HDC_DASK_SCHEDULER")
GATEWAY_ENV = ("DASK_GATEWAY__ADDRESS", "HDC_DASK_GATEWAY")
ALLOW_PLAIN_ENV = "HDC_DASK_ALLOW_PLAIN_TCP"
SECURE_SCHEMES = ("tls", "wss")
#: In-process transports never leave the process: nothing to encrypt.
LOCAL_SCHEMES = ("inproc",)
DEFAULT_MEMORY_FRACTION = 0.75

_lock = threading.Lock()
_current: dict[str, Any] = {}


# ---------------------------------------------------------------------------------------------------
# what this server may use


@dataclass(frozen=True)
class Resources:
    """CPUs and memory this process may use, and where each limit came from."""

    cpus: float
    memory: int
    cpu_source: str
    memory_source: str


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return None


def _cgroup_cpus(root: str) -> float | None:
    v2 = _read(f"{root}/cpu.max")  # "max 100000" or "200000 100000"
    if v2:
        quota, _, period = v2.partition(" ")
        if quota != "max" and period:
            return int(quota) / int(period)
        return None
    quota, period = _read(f"{root}/cpu/cpu.cfs_quota_us"), _read(f"{root}/cpu/cpu.cfs_period_us")
    if quota and period and int(quota) > 0:
        return int(quota) / int(period)
    return None


def _cgroup_memory(root: str) -> int | None:
    v2 = _read(f"{root}/memory.max")
    if v2 and v2 != "max":
        return int(v2)
    v1 = _read(f"{root}/memory/memory.limit_in_bytes")
    if v1 and int(v1) < 1 << 60:  # v1 says "no limit" with a huge number
        return int(v1)
    return None


def _env_number(env: dict[str, str], name: str) -> float | None:
    raw = env.get(name)
    if not raw:
        return None
    try:
        from dask.utils import parse_bytes

        return float(parse_bytes(raw)) if name == "MEM_LIMIT" else float(raw)
    except (ValueError, TypeError):
        log.warning("ignoring %s=%r: not a number", name, raw)
        return None


def resources(environ: dict[str, str] | None = None, cgroup_root: str = "/sys/fs/cgroup") -> Resources:
    """The smallest of: cgroup limits, ``CPU_LIMIT`` / ``MEM_LIMIT``, CPU affinity, the machine."""
    import psutil

    env = dict(os.environ if environ is None else environ)
    cpu_candidates: list[tuple[float, str]] = [(float(psutil.cpu_count() or 1), "machine")]
    if hasattr(os, "sched_getaffinity"):
        cpu_candidates.append((float(len(os.sched_getaffinity(0))), "affinity"))
    if (c := _cgroup_cpus(cgroup_root)) is not None:
        cpu_candidates.append((c, "cgroup"))
    if (c := _env_number(env, "CPU_LIMIT")) is not None and c > 0:
        cpu_candidates.append((c, "CPU_LIMIT"))
    mem_candidates: list[tuple[float, str]] = [(float(psutil.virtual_memory().total), "machine")]
    if (m := _cgroup_memory(cgroup_root)) is not None:
        mem_candidates.append((float(m), "cgroup"))
    if (m := _env_number(env, "MEM_LIMIT")) is not None and m > 0:
        mem_candidates.append((m, "MEM_LIMIT"))
    cpus, cpu_source = min(cpu_candidates)
    memory, memory_source = min(mem_candidates)
    return Resources(cpus, int(memory), cpu_source, memory_source)


# ---------------------------------------------------------------------------------------------------
# the three ways


def _scheme(address: str) -> str:
    return address.split("://", 1)[0].lower() if "://" in address else "tcp"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def _check_address(address: str, allow_plain_tcp: bool) -> None:
    scheme = _scheme(address)
    if scheme in SECURE_SCHEMES or scheme in LOCAL_SCHEMES:
        return
    if allow_plain_tcp or _env_flag(ALLOW_PLAIN_ENV):
        log.warning(
            "connecting to %s without TLS: allowed explicitly; safe only inside the project's own pod",
            address,
        )
        return
    raise HdcUserError(
        f"refusing the unencrypted Dask scheduler {address!r}: without TLS, anyone who can reach it can "
        "run code as you and read your project's data (and on a shared host, other users can reach it). "
        "Use a tls:// scheduler with certificates, Dask Gateway, or connect() without an address for a "
        "local TLS cluster. Inside a project's own pod you may pass allow_plain_tcp=True "
        f"(or set {ALLOW_PLAIN_ENV}=1)."
    )


def _scheduler_client(address: str, allow_plain_tcp: bool, security: Any) -> Any:
    from distributed import Client
    from distributed.security import Security

    _check_address(address, allow_plain_tcp)
    if _scheme(address) in SECURE_SCHEMES and security is None:
        security = Security()  # the distributed.comm.tls.* configuration
        if not (security.tls_ca_file and security.tls_client_cert):
            raise HdcUserError(
                f"the scheduler {address!r} speaks TLS, but no client certificate is configured: set "
                "DASK_DISTRIBUTED__COMM__TLS__CA_FILE, DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT and "
                "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY, or pass security=distributed.Security(...)"
            )
    return Client(address, security=security, set_as_default=True)


def _gateway_client(
    address: str, options: dict[str, Any], workers: int | tuple[int, int] | None
) -> tuple[Any, Any]:
    try:
        from dask_gateway import Gateway
    except ImportError:
        raise MissingExtraError("analysis", "dask-gateway") from None
    gateway = Gateway(address)
    cluster_options = gateway.cluster_options()
    project = os.environ.get("HDC_PROJECT")
    wanted = dict(options)
    if project and "project" in cluster_options and "project" not in wanted:
        wanted["project"] = project  # the gateway checks membership (sandbox notes §6)
    for key, value in wanted.items():
        cluster_options[key] = value
    cluster = gateway.new_cluster(cluster_options)
    if isinstance(workers, tuple):
        cluster.adapt(minimum=workers[0], maximum=workers[1])
    elif workers:
        cluster.scale(workers)
    return cluster, cluster.get_client(set_as_default=True)


def local_cluster(
    *,
    n_workers: int | None = None,
    threads_per_worker: int | None = None,
    memory_limit: int | str | None = None,
    memory_fraction: float = DEFAULT_MEMORY_FRACTION,
    dashboard: bool | None = None,
    environ: dict[str, str] | None = None,
    **kwargs: Any,
) -> Any:
    """A ``LocalCluster(security=True)`` on loopback sized to :func:`resources`.

    Layout: up to 4 CPUs one worker process with a thread per CPU; beyond that about sqrt(CPUs)
    processes sharing the CPUs as threads. Threads share memory, so a
    broadcast cohort is held once and nothing is pickled between workers; Parquet decoding and the
    NumPy kernels release the GIL. ``memory_limit`` is per worker (default: ``memory_fraction`` of the
    limit, shared out). ``security`` cannot be turned off. The Bokeh dashboard is on only where the
    server is alone in its network namespace (``HDC_ISOLATION=kubernetes``, a pod), unless
    ``dashboard`` says otherwise: on a shared host every local user can read a dashboard port
    (sandbox notes §2.4).
    """
    from dask.utils import parse_bytes
    from distributed import LocalCluster

    if "security" in kwargs and kwargs["security"] is not True:
        raise HdcUserError(
            "the toolkit's local clusters always use TLS (security=True); it cannot be turned off"
        )
    kwargs.pop("security", None)
    res = resources(environ)
    cpus = max(1, math.floor(res.cpus + 1e-9))
    if n_workers is None and threads_per_worker is None:
        n_workers = 1 if cpus <= 4 else math.ceil(math.sqrt(cpus))
        threads_per_worker = max(1, cpus // n_workers)
    elif n_workers is None:
        n_workers = max(1, cpus // threads_per_worker)
    threads_per_worker = threads_per_worker or max(1, cpus // n_workers)
    if memory_limit is None:
        per_worker: int | str = int(res.memory * memory_fraction / n_workers)
    else:
        per_worker = int(parse_bytes(memory_limit)) if isinstance(memory_limit, str) else memory_limit
    if dashboard is None:
        dashboard = os.environ.get("HDC_ISOLATION") == "kubernetes"
    log.info(
        "local TLS cluster: %d workers x %d threads, %s memory each (cpus %.1f from %s, memory from %s)",
        n_workers, threads_per_worker, per_worker, res.cpus, res.cpu_source, res.memory_source,
    )  # fmt: skip
    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=threads_per_worker,
        memory_limit=per_worker,
        processes=kwargs.pop("processes", True),
        host="127.0.0.1",
        # the scheduler's HTTP server (health, metrics; the dashboard only when asked) on a random
        # loopback port: never the well-known 8787, never beyond this machine
        dashboard_address="127.0.0.1:0",
        scheduler_kwargs={"dashboard": bool(dashboard), **kwargs.pop("scheduler_kwargs", {})},
        security=True,
        **kwargs,
    )


def connect(
    *,
    address: str | None = None,
    gateway: str | None = None,
    n_workers: int | tuple[int, int] | None = None,
    threads_per_worker: int | None = None,
    memory_limit: int | str | None = None,
    allow_plain_tcp: bool = False,
    security: Any = None,
    gateway_options: dict[str, Any] | None = None,
    new: bool = False,
    **cluster_kwargs: Any,
) -> Any:
    """A ``distributed.Client``: an existing scheduler, Dask Gateway, or a local TLS cluster.

    See the module docstring for the order. ``n_workers`` is a count, or ``(min, max)`` for adaptive
    scaling on Dask Gateway. The client becomes Dask's default, so ``df.compute()`` runs on it.
    """
    with _lock:
        client = _current.get("client")
        if client is not None and not new and client.status == "running":
            return client
        address = address or next((os.environ[k] for k in SCHEDULER_ENV if os.environ.get(k)), None)
        gateway = gateway or next((os.environ[k] for k in GATEWAY_ENV if os.environ.get(k)), None)
        cluster = None
        if address:
            client = _scheduler_client(address, allow_plain_tcp, security)
        elif gateway:
            cluster, client = _gateway_client(gateway, gateway_options or {}, n_workers)
        else:
            if isinstance(n_workers, tuple):
                n_workers = n_workers[1]
            cluster = local_cluster(
                n_workers=n_workers,
                threads_per_worker=threads_per_worker,
                memory_limit=memory_limit,
                **cluster_kwargs,
            )
            from distributed import Client

            client = Client(cluster, set_as_default=True)
        if not new:
            _close_locked()
        _current.update(client=client, cluster=cluster)
        return client


def _close_locked() -> None:
    client, cluster = _current.pop("client", None), _current.pop("cluster", None)
    for thing in (client, cluster):
        if thing is not None:
            try:
                thing.close()
            except Exception as exc:  # noqa: BLE001 - already gone, or its loop is closed
                log.debug("closing %r: %s", thing, exc)


def close() -> None:
    """Close the client and shut down the cluster that :func:`connect` started (if any)."""
    with _lock:
        _close_locked()
