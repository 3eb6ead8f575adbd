"""A project's workspace on disk: its paths, its permissions and the lock that serialises changes.

::

    HDC_HOME/
      projects/<id>/          the workspace (one per project)
        data/                 the current release: Parquet per table, derived contracts, manifest.json
                              read-only (files 0440, directories 0550) once released
        synthetic/            synthetic twins (written by the data centre, read by members)
        work/                 the members' working area
        outputs/              output requests for the airlock
        .data.*.partial       a release being written (renamed to data/ when complete; stale ones
                              are removed by the next provisioning of the project)
      keys/<id>.key           the project's pseudonymisation key (0600; never inside the workspace)
      locks/project-<id>.lock serialises provision / close / delete of one project
      reports/<id>/           gate reports of refused releases (data centre only)
      attestations/           deletion attestations

Group ownership (the project's Unix group) is set by the sandbox; this module sets the mode bits.
A project id is checked against the permit's id format before any path is built from it, so an id
such as ``../x`` never reaches the file system.
"""

from __future__ import annotations

import errno
import fcntl
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from hdc_toolkit.config import Settings
from hdc_toolkit.exceptions import NotFoundError, StateError
from hdc_toolkit.projects.vocabularies import PROJECT_ID_MAX_LENGTH, PROJECT_ID_PATTERN

__all__ = [
    "DATA_DIR_MODE",
    "DATA_FILE_MODE",
    "PARTIAL_SUFFIX",
    "SUBDIRS",
    "Workspace",
    "check_project_id",
    "fsync_dir",
    "make_private",
    "make_read_only",
    "remove_tree",
]

#: Released data: readable by the owner (data centre) and the project group, writable by no one.
DATA_FILE_MODE = 0o440
DATA_DIR_MODE = 0o550
#: Workspace directories and their modes (group = the project's members, set by the sandbox).
SUBDIRS: dict[str, int] = {"synthetic": 0o750, "work": 0o770, "outputs": 0o770}
ROOT_MODE = 0o750
PARTIAL_SUFFIX = ".partial"
_PARTIAL_PREFIX = ".data."


def check_project_id(project_id: str) -> str:
    """Return ``project_id`` when it has the permit id format, else raise :class:`NotFoundError`."""
    if (
        not isinstance(project_id, str)
        or len(project_id) > PROJECT_ID_MAX_LENGTH
        or not PROJECT_ID_PATTERN.fullmatch(project_id)
    ):
        raise NotFoundError(
            f"{project_id!r} is not a valid project id: expected lowercase letters, digits and single "
            f"hyphens, starting with a letter, at most {PROJECT_ID_MAX_LENGTH} characters "
            "(e.g. p2026-001-diabetes)"
        )
    return project_id


@dataclass(frozen=True)
class Workspace:
    """The paths of one project's workspace under ``HDC_HOME``."""

    settings: Settings
    project_id: str

    def __post_init__(self) -> None:
        check_project_id(self.project_id)

    @property
    def root(self) -> Path:
        return self.settings.projects_dir / self.project_id

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def manifest(self) -> Path:
        return self.data / "manifest.json"

    @property
    def synthetic(self) -> Path:
        return self.root / "synthetic"

    @property
    def reports(self) -> Path:
        return self.settings.home / "reports" / self.project_id

    @property
    def lock_file(self) -> Path:
        return self.settings.home / "locks" / f"project-{self.project_id}.lock"

    @property
    def attestations(self) -> Path:
        return self.settings.home / "attestations"

    def create(self) -> Workspace:
        """Create the workspace directories (idempotent) with their modes; ``data/`` comes with a release."""
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, ROOT_MODE)
        for name, mode in SUBDIRS.items():
            (self.root / name).mkdir(exist_ok=True)
            os.chmod(self.root / name, mode)
        return self

    def partials(self) -> list[Path]:
        """Release directories left half-written (by a crash) or superseded, beside ``data/``."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.name.startswith(_PARTIAL_PREFIX) and p.is_dir())

    def new_partial(self) -> Path:
        """A fresh, private temporary directory beside ``data/`` for a release being written."""
        import tempfile

        return Path(tempfile.mkdtemp(prefix=_PARTIAL_PREFIX, suffix=PARTIAL_SUFFIX, dir=self.root))

    def clean_partials(self) -> list[str]:
        """Remove stale temporaries (call with :meth:`lock` held); returns their names."""
        removed = []
        for p in self.partials():
            remove_tree(p)
            removed.append(p.name)
        return removed

    @contextmanager
    def lock(self, action: str) -> Iterator[None]:
        """Hold the project's exclusive lock; :class:`StateError` if another process holds it.

        The lock is a ``flock`` on a file outside the workspace, so the kernel releases it when its
        holder dies (a killed provisioning never blocks the next one) and ``delete`` can remove the
        whole workspace while holding it.
        """
        self.lock_file.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EAGAIN, errno.EACCES):
                    raise StateError(
                        f"project {self.project_id!r} is busy: another process is provisioning, closing or "
                        f"deleting it; try again when it has finished ({action} refused)"
                    ) from None
                raise
            yield
        finally:
            os.close(fd)


def make_read_only(path: Path, *, file_mode: int = DATA_FILE_MODE, dir_mode: int = DATA_DIR_MODE) -> None:
    """Set ``file_mode`` on every file and ``dir_mode`` on every directory under ``path`` (inclusive)."""
    for current, dirs, files in os.walk(path, topdown=False):
        for name in files:
            os.chmod(os.path.join(current, name), file_mode)
        for name in dirs:
            os.chmod(os.path.join(current, name), dir_mode)
    os.chmod(path, dir_mode if path.is_dir() else file_mode)


def make_private(path: Path) -> None:
    """Remove every group and other permission under ``path`` (inclusive): the owner alone may read."""
    if not path.exists():
        return
    for current, dirs, files in os.walk(path):
        for name in [*dirs, *files]:
            p = os.path.join(current, name)
            if not os.path.islink(p):
                os.chmod(p, stat.S_IMODE(os.lstat(p).st_mode) & 0o700)
    os.chmod(path, stat.S_IMODE(path.stat().st_mode) & 0o700)


def remove_tree(path: Path) -> None:
    """Remove ``path`` even where read-only modes were set on it (the owner regains write first)."""
    if not os.path.lexists(path):
        return
    if path.is_dir() and not path.is_symlink():
        for current, dirs, _files in os.walk(path):
            os.chmod(current, 0o700)
            for name in dirs:
                p = os.path.join(current, name)
                if not os.path.islink(p):
                    os.chmod(p, 0o700)
        shutil.rmtree(path)
    else:
        path.unlink()


def fsync_dir(path: Path) -> None:
    """Make a rename or unlink in ``path`` durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
