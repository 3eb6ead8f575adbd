"""Staging the files of an output request: where they may come from, and copying them safely.

Files are requested from the project's ``outputs/`` and ``work/`` only. They are copied (never moved or
linked) into a private staging folder before any check runs, so what is checked, reviewed and
released is the copy: the researcher's file may change afterwards without effect. Threat model: the
researcher controls ``outputs/`` and ``work/`` and may race the airlock, swapping a checked path for a
symlink (to ``data/``, say) before it is copied; :func:`copy_in` opens with ``O_NOFOLLOW`` and checks
the real path of the *opened* file again.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from hdc_toolkit.exceptions import NotFoundError, PermissionDenied
from hdc_toolkit.outputs import checking, files

__all__ = [
    "FILE_NAME",
    "REQUEST_DIRS",
    "check_inside",
    "copy_in",
    "removed_on_error",
    "resolve",
    "sha256_bytes",
    "sources",
    "stage_code",
]

REQUEST_DIRS: tuple[str, ...] = ("outputs", "work")
FILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,200}")


def sources(root: Path, paths: Sequence[str | Path]) -> dict[str, Path]:
    """Requested name -> resolved path; SDC records of requested tables are dropped (they travel
    inside the output record)."""
    if not paths:
        raise NotFoundError("an output request needs at least one file")
    resolved = [resolve(root, p) for p in paths]
    sidecars = {checking.sidecar_path(p) for p in resolved}
    out: dict[str, Path] = {}
    for path in resolved:
        if path in sidecars:
            continue  # an SDC record travels with its table, inside the output record
        if not FILE_NAME.fullmatch(path.name):
            raise PermissionDenied(
                f"file name {path.name!r}: use letters, digits, '.', '_' and '-' only (rename the file)"
            )
        if path.name in out:
            raise PermissionDenied(f"two requested files are called {path.name!r}; rename one")
        out[path.name] = path
    return out


def resolve(root: Path, path: str | Path) -> Path:
    """The real path of a requested file, which must exist inside ``root``'s request folders."""
    real = Path(path).resolve()
    if not real.is_file():
        raise NotFoundError(f"{path}: no such file")
    check_inside(root, real, shown=path)
    return real


def check_inside(root: Path, real: Path, *, shown: str | Path) -> None:
    """Refuse ``real`` unless it lies in ``root/outputs`` or ``root/work``."""
    root = root.resolve()
    allowed = [root / d for d in REQUEST_DIRS]
    if not any(real.is_relative_to(a) for a in allowed):
        where = " or ".join(str(a) for a in allowed)
        raise PermissionDenied(f"{shown}: outputs are requested from the project's {where}")


def copy_in(root: Path, src: Path, dst: Path) -> Path:
    """Copy ``src`` into the staging area, refusing anything that is not, *when opened*, a regular
    file inside the project's ``outputs/`` or ``work/`` (a path swapped for a symlink after it was
    checked is caught here: the opened file's real path is checked again)."""
    try:
        fd = os.open(src, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError as exc:
        raise PermissionDenied(f"{src.name}: cannot be opened as a plain file ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise PermissionDenied(f"{src.name}: not a regular file")
        proc = Path(f"/proc/self/fd/{fd}")
        real = Path(os.readlink(proc)) if proc.exists() else src.resolve()
        check_inside(root, real, shown=src)
        with open(dst, "xb") as out:
            shutil.copyfileobj(fh, out, files.CHUNK_BYTES)
    return dst


def stage_code(root: Path, code: Path, staging: Path) -> dict[str, Any]:
    """Copy the producing code into ``staging/code`` and hash it (a notebook's code cells too)."""
    (staging / "code").mkdir(mode=0o700)
    copy = copy_in(root, code, staging / "code" / code.name)
    meta: dict[str, Any] = {"name": code.name, "sha256": files.file_sha256(copy)}
    if code.suffix == ".ipynb":
        try:
            cells = json.loads(copy.read_text(encoding="utf-8")).get("cells", [])
            source = "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code")
            meta["source_sha256"] = sha256_bytes(source.encode("utf-8"))
        except (ValueError, AttributeError):
            meta["source_sha256"] = None
    return meta


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@contextmanager
def removed_on_error(path: Path) -> Iterator[None]:
    """Remove the staging folder ``path`` if the block fails (nothing half-made stays behind)."""
    try:
        yield
    except BaseException:
        shutil.rmtree(path, ignore_errors=True)
        raise
