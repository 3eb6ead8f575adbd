"""Shared fixtures.

Fixtures:
    postgres_server   session: URL of a PostgreSQL server (``HDC_TEST_POSTGRES_URL``, else a private
                      throw-away cluster, see ``tests/support/postgres.py``); FAILS (never skips) when
                      no PostgreSQL is installed.
    registry_url      parametrized ``sqlite`` / ``postgres``: a fresh, empty registry database.
    settings          :class:`~hdc_toolkit.config.Settings` with a temporary ``HDC_HOME`` and
                      ``registry_url`` (so tests using it run on both backends).
    sqlite_settings   the same on the default embedded SQLite only.
    hdc_env           the environment for ``hdc_toolkit.cli.main(argv, environ=hdc_env)`` matching
                      ``settings``.
    demo_application  a private copy of ``templates/application/examples/demo-diabetes``; returns its
                      ``project.yaml`` path (edit it freely).
    approval_day      the fixed date applications are judged on (the example is valid then).
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from hdc_toolkit.config import Settings

REPO = Path(__file__).resolve().parents[1]
DEMO_APPLICATION_DIR = REPO / "templates" / "application" / "examples" / "demo-diabetes"
APPROVAL_DAY = dt.date(2026, 12, 1)
if str(REPO / "tests") not in sys.path:  # tests/support is importable as ``support``
    sys.path.insert(0, str(REPO / "tests"))


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    from support.postgres import ENV_URL, PostgresUnavailable, TempCluster

    if os.environ.get(ENV_URL):
        yield os.environ[ENV_URL]
        return
    try:
        cluster = TempCluster().start()
    except PostgresUnavailable as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield cluster.url
    finally:
        cluster.stop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def registry_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    from hdc_toolkit.projects.registry import dispose_engines

    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.sqlite'}"
        dispose_engines()
        return
    from support.postgres import create_database, drop_database

    server = request.getfixturevalue("postgres_server")
    url = create_database(server)
    try:
        yield url
    finally:
        dispose_engines()
        drop_database(server, url)


@pytest.fixture
def settings(tmp_path: Path, registry_url: str) -> Settings:
    return Settings(home=tmp_path / "hdc-home", database_url=registry_url)


@pytest.fixture
def sqlite_settings(tmp_path: Path) -> Iterator[Settings]:
    from hdc_toolkit.projects.registry import dispose_engines

    yield Settings.from_env({"HDC_HOME": str(tmp_path / "hdc-home")})
    dispose_engines()


@pytest.fixture
def hdc_env(settings: Settings) -> dict[str, str]:
    return {"HDC_HOME": str(settings.home), "HDC_DATABASE_URL": settings.database_url}


@pytest.fixture
def demo_application(tmp_path: Path) -> Path:
    target = tmp_path / "application"
    shutil.copytree(DEMO_APPLICATION_DIR, target)
    return target / "project.yaml"


@pytest.fixture
def approval_day() -> dt.date:
    return APPROVAL_DAY
