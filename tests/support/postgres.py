"""A real PostgreSQL server for the test suite, and one fresh database per test.

``HDC_TEST_POSTGRES_URL`` (a server URL whose user may ``CREATE DATABASE``) is used when set.
Otherwise :class:`TempCluster` runs a private, throw-away cluster: ``initdb`` into a temporary
directory and ``pg_ctl start`` on a free 127.0.0.1 port with its unix socket in that directory,
with fsync off (speed; the data is thrown away). PostgreSQL refuses to run as root, so as root the
server runs as the ``postgres`` system user (created if missing) through ``runuser``, and the
temporary directory is owned by that user. :meth:`TempCluster.stop` stops it with
``pg_ctl stop -m immediate`` and removes the directory.

When no server binaries are installed :func:`find_bindir` raises :class:`PostgresUnavailable`, whose
message says to ``apt-get install postgresql``; the fixture turns that into a test *failure*, never a
skip, so a CI machine without PostgreSQL cannot silently pass.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import psycopg
from sqlalchemy.engine import make_url

__all__ = ["ENV_URL", "PostgresUnavailable", "TempCluster", "create_database", "drop_database", "find_bindir"]

ENV_URL = "HDC_TEST_POSTGRES_URL"
RUN_AS = "postgres"
INSTALL_HINT = (
    "PostgreSQL server binaries (initdb, pg_ctl) were not found under /usr/lib/postgresql/*/bin or on PATH. "
    "The registry tests need a real PostgreSQL server: install it with `apt-get install postgresql` "
    f"(as CI's .ci/run does), or point {ENV_URL} at a server whose user may CREATE DATABASE."
)


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be started here."""


def find_bindir() -> Path:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding initdb and pg_ctl (or PATH's)."""
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_version_key, reverse=True)
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(str(Path(on_path).parent))
    for directory in candidates:
        if all(os.access(Path(directory, tool), os.X_OK) for tool in ("initdb", "pg_ctl")):
            return Path(directory)
    raise PostgresUnavailable(INSTALL_HINT)


def _version_key(path: str) -> tuple[int, ...]:
    version = Path(path).parent.name
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ensure_system_user(name: str) -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            ["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", name],
            check=True,
            capture_output=True,
        )
        return pwd.getpwnam(name)


@dataclass
class TempCluster:
    """A private PostgreSQL cluster in a temporary directory; ``url`` is its admin URL."""

    bindir: Path = field(default_factory=find_bindir)
    root: Path | None = None
    port: int | None = None
    _prefix: list[str] = field(default_factory=list)

    @property
    def datadir(self) -> Path:
        assert self.root is not None
        return self.root / "data"

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self._prefix, *args], check=False, capture_output=True, text=True, timeout=120
        )

    def start(self) -> TempCluster:
        self.root = Path(tempfile.mkdtemp(prefix="hdc-pg-"))  # under /tmp: readable by the server user
        if os.geteuid() == 0:
            user = _ensure_system_user(RUN_AS)
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._prefix = ["runuser", "-u", RUN_AS, "--"]
        done = self._run(
            str(self.bindir / "initdb"),
            "-D",
            str(self.datadir),
            "-U",
            "postgres",
            "-A",
            "trust",
            "-E",
            "UTF8",
            "--locale=C",
            "--no-sync",
        )
        if done.returncode:
            self._cleanup()
            raise PostgresUnavailable(f"initdb failed ({done.returncode}): {done.stderr.strip()}")
        for _attempt in range(3):  # the port may be taken between choosing and binding it
            self.port = _free_port()
            options = (
                f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
            )
            done = self._run(
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.root / "log"),
                "-o",
                options,
                "-w",
                "-t",
                "60",
                "start",
            )
            if done.returncode == 0:
                return self
        log = (self.root / "log").read_text(errors="replace")[-2000:] if (self.root / "log").exists() else ""
        self._cleanup()
        raise PostgresUnavailable(f"pg_ctl start failed: {done.stderr.strip()}\n{log}")

    def stop(self) -> None:
        if self.root is None:
            return
        if self.datadir.exists():
            self._run(str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", "immediate", "-w", "stop")
        self._cleanup()

    def _cleanup(self) -> None:
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)
            self.root = None


def _libpq(url: str) -> str:
    """A URL psycopg itself accepts (no ``+driver``)."""
    u = make_url(url.replace("postgres://", "postgresql://", 1))
    return u.set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(server_url: str) -> str:
    """Create a fresh, uniquely named database; return its SQLAlchemy URL."""
    name = f"hdc_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    u = make_url(_libpq(server_url)).set(drivername="postgresql+psycopg", database=name)
    return u.render_as_string(hide_password=False)


def drop_database(server_url: str, database_url: str) -> None:
    name = make_url(database_url).database
    with psycopg.connect(_libpq(server_url), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
