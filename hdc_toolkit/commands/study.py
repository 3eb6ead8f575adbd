"""``hdc study``: start a study from the data centre's study template, and bring it forward later.

``hdc study new DIR [--project ID]`` renders the copier template (``templates/study`` in this
repository, or the data centre's template repository named by ``--template`` / ``HDC_STUDY_TEMPLATE``)
into DIR: analysis notebooks in order, code lists, outputs folders, README and a pinned environment.
The answers and the template version are recorded in ``DIR/.copier-answers.yml``.

``hdc study update DIR`` runs ``copier update``: the study moves to the newest template version (a git
tag), keeping its answers and its own changes (conflicts are marked inline). It needs a template from
git (a study made from a plain folder records no version) and a study committed to git.

:func:`new_study` and :func:`update_study` are the library calls behind the commands.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from hdc_toolkit.exceptions import HdcUserError

BUNDLED_TEMPLATE = Path(__file__).resolve().parents[2] / "templates" / "study"
TEMPLATE_ENV = "HDC_STUDY_TEMPLATE"
ANSWERS_FILE = ".copier-answers.yml"


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "study", help="start a study from the study template (copier) and keep it in step with the template"
    )
    sub = parser.add_subparsers(dest="study_command", metavar="ACTION")
    sub.required = True

    new = sub.add_parser("new", help="create a study in DIR from the study template")
    new.add_argument("dir", metavar="DIR", help="the new study's directory (must not exist or be empty)")
    new.add_argument("--project", metavar="ID", help="the project id of the approved application")
    new.add_argument("--name", help="the study's short name (default: DIR's name)")
    _template_arguments(new)
    new.set_defaults(handler=_new)

    update = sub.add_parser(
        "update", help="bring a study forward to a newer template version (copier update)"
    )
    update.add_argument("dir", metavar="DIR", nargs="?", default=".", help="the study (default: .)")
    update.add_argument("--vcs-ref", metavar="REF", help="the template version (git tag) to move to")
    update.add_argument("--data", action="append", default=[], metavar="KEY=VALUE", help="change an answer")
    update.add_argument("--trust", action="store_true", help="allow the template's tasks and migrations")
    update.set_defaults(handler=_update)


def _template_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--template",
        metavar="SRC",
        help=f"copier template: a git URL or a path (default: ${TEMPLATE_ENV}, else the bundled template)",
    )
    parser.add_argument(
        "--vcs-ref", metavar="REF", help="template version (git tag or commit); default newest"
    )
    parser.add_argument("--data", action="append", default=[], metavar="KEY=VALUE", help="answer a question")
    parser.add_argument("--trust", action="store_true", help="allow the template's tasks and migrations")


def new_study(
    directory: str | Path,
    *,
    project_id: str | None = None,
    name: str | None = None,
    template: str | Path | None = None,
    vcs_ref: str | None = None,
    data: Mapping[str, Any] | None = None,
    trust: bool = False,
) -> Path:
    """Render the study template into ``directory`` with every question answered (no prompts)."""
    from hdc_toolkit.projects import vocabularies as voc

    target = Path(directory)
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise HdcUserError(f"{target} already exists and is not empty; choose a new directory")
    answers: dict[str, Any] = dict(data or {})
    if project_id is not None:
        if len(project_id) > voc.PROJECT_ID_MAX_LENGTH or not voc.PROJECT_ID_PATTERN.fullmatch(project_id):
            raise HdcUserError(
                f"{project_id!r} is not a valid project id (lowercase letters, digits and hyphens, e.g. "
                "p2026-001-diabetes)"
            )
        answers["project_id"] = project_id
    answers.setdefault("study_name", name or _slug(target.resolve().name))
    source = str(template or BUNDLED_TEMPLATE)
    _copier("copy", source, target, data=answers, vcs_ref=vcs_ref, trust=trust)
    return target


def update_study(
    directory: str | Path,
    *,
    vcs_ref: str | None = None,
    data: Mapping[str, Any] | None = None,
    trust: bool = False,
) -> Path:
    """``copier update`` the study in ``directory`` (keeps answers; new questions get their defaults)."""
    target = Path(directory)
    if not (target / ANSWERS_FILE).is_file():
        raise HdcUserError(f"{target} is not a study made from the template (no {ANSWERS_FILE})")
    _copier("update", None, target, data=dict(data or {}), vcs_ref=vcs_ref, trust=trust)
    return target


def template_version(directory: str | Path) -> str | None:
    """The template version (``_commit``) a study was made from or last updated to."""
    import yaml

    answers = yaml.safe_load((Path(directory) / ANSWERS_FILE).read_text(encoding="utf-8")) or {}
    commit = answers.get("_commit")
    return None if commit is None else str(commit)


def _copier(action: str, source: str | None, target: Path, **kwargs: Any) -> None:
    import copier
    from copier.errors import CopierError, UnsafeTemplateError

    options = {
        "data": kwargs["data"],
        "vcs_ref": kwargs["vcs_ref"],
        "defaults": True,
        "quiet": True,
        "unsafe": kwargs["trust"],
    }
    try:
        if action == "copy":
            copier.run_copy(source, target, overwrite=False, **options)
        else:
            copier.run_update(target, overwrite=True, skip_answered=True, **options)
    except UnsafeTemplateError as exc:
        raise HdcUserError(
            f"the template runs tasks or migrations ({exc}); review it, then pass --trust"
        ) from None
    except (CopierError, ValueError) as exc:
        raise HdcUserError(f"copier {action} failed: {exc}", location=str(target)) from None


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-_")
    return slug if slug and slug[0].isalpha() else f"study-{slug}".rstrip("-")


def _parse_data(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise HdcUserError(f"--data {pair!r}: write KEY=VALUE")
        out[key.strip()] = value
    return out


def _new(args: argparse.Namespace) -> int:
    template = args.template or args.environ.get(TEMPLATE_ENV) or None
    target = new_study(
        args.dir,
        project_id=args.project,
        name=args.name,
        template=template,
        vcs_ref=args.vcs_ref,
        data=_parse_data(args.data),
        trust=args.trust,
    )
    version = template_version(target)
    print(
        f"created study {target} from {template or BUNDLED_TEMPLATE}" + (f" ({version})" if version else "")
    )
    if version is None:
        print(
            "note: this template is not a versioned git repository, so `hdc study update` cannot bring the "
            f"study forward; set {TEMPLATE_ENV} to the data centre's template repository for that"
        )
    print(f"next: commit it to git, then run its notebooks in order ({target / 'notebooks'})")
    return 0


def _update(args: argparse.Namespace) -> int:
    before = template_version(args.dir) if (Path(args.dir) / ANSWERS_FILE).is_file() else None
    update_study(args.dir, vcs_ref=args.vcs_ref, data=_parse_data(args.data), trust=args.trust)
    after = template_version(args.dir)
    print(f"updated study {args.dir}: template {before} -> {after}")
    print("review the changes (git diff) and resolve any conflict markers, then commit")
    return 0
