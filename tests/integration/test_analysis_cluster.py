"""``connect()``: sizing, refusing plain TCP, a real TLS LocalCluster; the template notebook in CI.

One module-scoped project (SQLite registry) is provisioned from a small demo extract; the question of
the benchmark runs on it on a TLS cluster and must equal the same question computed in-process, and
``templates/notebooks/analysis.ipynb`` is executed headless against it with nbclient.
"""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path
from typing import ClassVar

import pytest

from hdc_toolkit.analysis import cluster
from hdc_toolkit.config import Settings
from hdc_toolkit.exceptions import HdcUserError, MissingExtraError

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = REPO / "templates" / "notebooks" / "analysis.ipynb"
EXAMPLE = REPO / "templates" / "application" / "examples" / "demo-diabetes"
PROJECT = "p2026-001-diabetes"


# -- sizing and refusals (no cluster) -----------------------------------------------------------------


def fake_cgroup(root: Path, cpu_max: str | None, memory_max: str | None) -> str:
    root.mkdir(parents=True, exist_ok=True)
    if cpu_max is not None:
        (root / "cpu.max").write_text(cpu_max + "\n")
    if memory_max is not None:
        (root / "memory.max").write_text(memory_max + "\n")
    return str(root)


def test_resources_take_the_smallest_limit(tmp_path):
    import psutil

    machine_cpus = psutil.cpu_count()
    root = fake_cgroup(tmp_path / "v2", "150000 100000", str(3 * 2**30))
    res = cluster.resources({}, cgroup_root=root)
    assert (res.cpus, res.cpu_source) == (
        min(1.5, machine_cpus),
        "cgroup" if machine_cpus > 1.5 else "machine",
    )
    assert (res.memory, res.memory_source) == (3 * 2**30, "cgroup")
    # JupyterHub's MEM_LIMIT / CPU_LIMIT when they are smaller
    res = cluster.resources({"MEM_LIMIT": "1073741824", "CPU_LIMIT": "1.0"}, cgroup_root=root)
    assert (res.memory, res.memory_source, res.cpus, res.cpu_source) == (2**30, "MEM_LIMIT", 1.0, "CPU_LIMIT")
    # no limits anywhere: the machine
    res = cluster.resources({}, cgroup_root=fake_cgroup(tmp_path / "none", "max 100000", "max"))
    assert res.memory_source == "machine" and res.memory == psutil.virtual_memory().total
    # cgroup v1
    v1 = tmp_path / "v1"
    (v1 / "cpu").mkdir(parents=True)
    (v1 / "memory").mkdir()
    (v1 / "cpu" / "cpu.cfs_quota_us").write_text("100000")
    (v1 / "cpu" / "cpu.cfs_period_us").write_text("100000")
    (v1 / "memory" / "memory.limit_in_bytes").write_text(str(2**31))
    res = cluster.resources({}, cgroup_root=str(v1))
    assert (res.cpus, res.memory) == (1.0, 2**31)


@pytest.mark.parametrize("address", ["tcp://127.0.0.1:8786", "127.0.0.1:8786", "ucx://10.0.0.1:8786"])
def test_plain_schedulers_are_refused(address, monkeypatch):
    monkeypatch.delenv(cluster.ALLOW_PLAIN_ENV, raising=False)
    with pytest.raises(HdcUserError, match="refusing the unencrypted Dask scheduler .*run code as you"):
        cluster.connect(address=address)
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", address)
    with pytest.raises(HdcUserError, match="refusing the unencrypted"):
        cluster.connect()


def test_a_tls_scheduler_needs_client_certificates(monkeypatch):
    for name in ("CA_FILE", "CLIENT__CERT", "CLIENT__KEY"):
        monkeypatch.delenv(f"DASK_DISTRIBUTED__COMM__TLS__{name}", raising=False)
    with pytest.raises(HdcUserError, match="no client certificate is configured"):
        cluster.connect(address="tls://127.0.0.1:8786")


class FakeGateway:
    """Records what connect() asks of dask_gateway.Gateway."""

    calls: ClassVar[list] = []

    def __init__(self, address):
        self.calls.append(("Gateway", address))

    def cluster_options(self):
        return {"project": "", "worker_memory": 2}

    def new_cluster(self, options):
        self.calls.append(("new_cluster", dict(options)))
        gateway = self

        class Cluster:
            def adapt(self, minimum, maximum):
                gateway.calls.append(("adapt", minimum, maximum))

            def scale(self, n):
                gateway.calls.append(("scale", n))

            def get_client(self, set_as_default):
                gateway.calls.append(("get_client", set_as_default))
                return "client"

            def close(self):
                pass

        return Cluster()


def test_dask_gateway_is_used_when_the_environment_names_it(monkeypatch):
    import sys
    import types

    FakeGateway.calls = []
    monkeypatch.setitem(sys.modules, "dask_gateway", types.SimpleNamespace(Gateway=FakeGateway))
    for name in ("DASK_SCHEDULER_ADDRESS", "HDC_DASK_SCHEDULER"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DASK_GATEWAY__ADDRESS", "https://hub.example.org/services/dask-gateway")
    monkeypatch.setenv("HDC_PROJECT", "p2026-001-diabetes")
    try:
        assert cluster.connect(n_workers=(1, 4), gateway_options={"worker_memory": 4}, new=True) == "client"
    finally:
        cluster._current.clear()
    assert FakeGateway.calls == [
        ("Gateway", "https://hub.example.org/services/dask-gateway"),
        ("new_cluster", {"project": "p2026-001-diabetes", "worker_memory": 4}),
        ("adapt", 1, 4),
        ("get_client", True),
    ]


def test_gateway_without_the_package_names_the_fix(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dask_gateway", None)  # import fails as if not installed
    monkeypatch.setenv("DASK_GATEWAY__ADDRESS", "https://gateway.example.org")
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    with pytest.raises(MissingExtraError, match="dask-gateway"):
        cluster.connect(new=True)


def test_tls_cannot_be_switched_off():
    with pytest.raises(HdcUserError, match="always use TLS"):
        cluster.local_cluster(security=False)


# -- a provisioned project, a real cluster, the notebook ----------------------------------------------


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    from hdc_toolkit.demo import generate_extract
    from hdc_toolkit.projects.permit import approve_permit
    from hdc_toolkit.projects.provision import provision
    from hdc_toolkit.projects.registry import dispose_engines

    root = tmp_path_factory.mktemp("analysis-cluster")
    generate_extract(root / "extract", patients=4000, seed=11)
    shutil.copytree(EXAMPLE, root / "application")
    settings = Settings.from_env({"HDC_HOME": str(root / "hdc-home")})
    approve_permit(settings, root / "application" / "project.yaml", by="steward1", today=dt.date(2026, 12, 1))
    provision(settings, PROJECT, root / "extract", by="steward1")
    yield settings
    dispose_engines()


def question(settings: Settings):
    from hdc_toolkit.analysis import broadcast_merge, code_filter, incidence, open_table, select_cohort

    kw = {"project": PROJECT, "settings": settings}
    e11 = open_table("diagnoses", ["pid", "episode_id"], filters=code_filter("icd10_code", "E11"), **kw)
    episodes = open_table("episodes", ["episode_id", "admission_time"], **kw)
    cohort = select_cohort(broadcast_merge(episodes, e11, on="episode_id"), date="admission_time")
    patients = open_table("patients", ["pid", "birth_date", "sex", "death_date"], categories=["sex"], **kw)
    return incidence(patients, cohort, start="2016-01-01", end="2025-12-31", age_bands=(0, 50, 70))


@pytest.fixture(scope="module")
def tls_client(project: Settings):
    """One local TLS cluster for the module, started the way notebooks start it."""
    client = cluster.connect(n_workers=1, threads_per_worker=2, memory_limit="1GiB")
    yield client
    cluster.close()


def test_the_question_on_a_tls_local_cluster(project: Settings, tls_client):
    import dask
    import pandas as pd

    assert tls_client.scheduler.address.startswith("tls://127.0.0.1:")
    assert cluster.connect() is tls_client, "connect() returns the live client"
    assert tls_client.security.require_encryption
    workers = tls_client.scheduler_info()["workers"].values()
    assert [w["memory_limit"] for w in workers] == [2**30]
    on_cluster = question(project)
    with dask.config.set(scheduler="sync"):
        in_process = question(project)
    pd.testing.assert_frame_equal(on_cluster, in_process)
    assert on_cluster["events"].sum() > 0 and on_cluster["person_years"].sum() > 0


def test_the_template_notebook_runs_headless(project: Settings, tls_client, tmp_path, monkeypatch):
    """The notebook, executed by nbclient; its ``connect()`` joins the module's cluster over TLS.

    The sandbox's way to hand a kernel an existing scheduler: its address and the client certificate
    in the environment (here the cluster's temporary certificates, written to files only we can read).
    """
    import nbformat
    from nbclient import NotebookClient

    certs = tmp_path / "tls"
    certs.mkdir(mode=0o700)
    sec = tls_client.security
    for name, pem in (
        ("CA_FILE", sec.tls_ca_file),
        ("CLIENT__CERT", sec.tls_client_cert),
        ("CLIENT__KEY", sec.tls_client_key),
    ):
        path = certs / name.lower().replace("__", "-")
        path.write_text(pem)
        path.chmod(0o600)
        monkeypatch.setenv(f"DASK_DISTRIBUTED__COMM__TLS__{name}", str(path))
    monkeypatch.setenv("DASK_SCHEDULER_ADDRESS", tls_client.scheduler.address)
    monkeypatch.delenv("DASK_GATEWAY__ADDRESS", raising=False)
    monkeypatch.setenv("HDC_HOME", str(project.home))
    monkeypatch.setenv("HDC_PROJECT", PROJECT)
    monkeypatch.delenv("HDC_DATA_DIR", raising=False)
    monkeypatch.delenv("HDC_DATABASE_URL", raising=False)
    nb = nbformat.read(NOTEBOOK, as_version=4)
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), (
        "commit the notebook without outputs"
    )
    NotebookClient(
        nb, timeout=240, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    text = "\n".join(
        str(o.get("text") or o.get("data", {}).get("text/plain", ""))
        for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
    )  # fmt: skip
    assert "tls scheduler with 1 worker(s), 2 threads" in text
    assert "not permitted to read column(s) 'department'" in text
    assert "rate_upper" in text and "prevalence_upper" in text
    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert tls_client.status == "running", "the notebook's close() leaves a cluster it did not start alone"
