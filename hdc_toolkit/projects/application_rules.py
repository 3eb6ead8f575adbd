"""The rules an application must meet before it is approved and provisioned.

:func:`check_application` runs every rule and returns a :class:`~hdc_toolkit.results.Run` with one
:class:`~hdc_toolkit.results.Check` per rule (key ``application.<area>.<rule>``). A rule never stops at
the first problem: each problem names the file and field, e.g.
``project.yaml: members[2].training_date: ...``, and is listed in the check's message and in
``check.details["problems"]``. :func:`run_problems` collects them from a run.

Column classifications and allowed coarsenings come from the data contracts
(``<contracts_dir>/<dataset>.odcs.yaml``, each property's ``customProperties``), so the contract
stays the one source of truth for what a column is.
"""

from __future__ import annotations

import datetime as dt
import difflib
import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from hdc_toolkit.projects import vocabularies as voc
from hdc_toolkit.projects.application import Application, application_hash
from hdc_toolkit.results import Check, Run, Verdict

__all__ = [
    "DEFAULT_CONTRACTS_DIR",
    "DELTA_MAX",
    "EPSILON_WARN_ABOVE",
    "MAX_DURATION_YEARS",
    "MIN_JUSTIFICATION_CHARS",
    "TRAINING_VALID_YEARS",
    "ColumnPolicy",
    "Problem",
    "check_application",
    "read_contract_columns",
    "run_problems",
]

DEFAULT_CONTRACTS_DIR = Path(__file__).resolve().parents[2] / "data_contracts"
TRAINING_VALID_YEARS = 3
MAX_DURATION_YEARS = 10  # the longest EHDS data permit
MIN_JUSTIFICATION_CHARS = 20
MIN_JUSTIFICATION_WORDS = 2  # meaningful words beyond placeholders and the variable's own name
EPSILON_WARN_ABOVE = 10.0
DELTA_MAX = 1e-3
UNIX_GROUP_MAX = 32  # groupadd refuses longer names on common Linux systems
_PLACEHOLDER_WORDS = frozenset(
    "tbd tba todo fixme xxx n a na none nil needed need needs required requires necessary yes ok see "
    "protocol analysis analyses for the a an of in to and this that it is be will we our us study project "
    "research data variable variables column use used lorem ipsum same above".split()
)


@dataclass(frozen=True)
class Problem:
    """One problem found by a rule, located by file and dotted field path."""

    verdict: Verdict
    file: str
    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.file}: {self.path}: {self.message}" if self.path else f"{self.file}: {self.message}"

    def to_dict(self) -> dict[str, str]:
        return {
            "verdict": self.verdict.value,
            "file": self.file,
            "path": self.path,
            "message": self.message,
            "text": str(self),
        }


@dataclass(frozen=True)
class ColumnPolicy:
    """What a data contract says about one column."""

    classification: str | None
    coarsening: tuple[str, ...] = ()


def read_contract_columns(contracts_dir: str | Path, dataset: str) -> dict[str, ColumnPolicy]:
    """Column name → :class:`ColumnPolicy` from ``<contracts_dir>/<dataset>.odcs.yaml``.

    Raises ``FileNotFoundError`` when there is no contract and ``ValueError`` when it is unreadable.
    """
    path = Path(contracts_dir) / f"{dataset}.odcs.yaml"
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path}: not valid YAML: {exc}") from None
    objects = data.get("schema") if isinstance(data, dict) else None
    if not isinstance(objects, list) or not objects:
        raise ValueError(f"{path}: has no schema objects")
    obj = next((o for o in objects if isinstance(o, dict) and o.get("name") == dataset), objects[0])
    columns: dict[str, ColumnPolicy] = {}
    for prop in obj.get("properties") or []:
        custom = {
            c.get("property"): c.get("value")
            for c in prop.get("customProperties") or []
            if isinstance(c, dict)
        }
        coarsening = custom.get("coarsening") or []
        coarsening = [coarsening] if isinstance(coarsening, str) else coarsening
        columns[str(prop.get("name"))] = ColumnPolicy(
            custom.get("classification"), tuple(map(str, coarsening))
        )
    return columns


@dataclass
class _Context:
    app: Application
    today: dt.date
    for_provisioning: bool
    contracts_dir: Path
    project: str
    request: str
    _contracts: dict[str, dict[str, ColumnPolicy] | str] = field(default_factory=dict)

    def contract(self, dataset: str) -> dict[str, ColumnPolicy] | str:
        """The dataset's columns, or the reason they cannot be read."""
        if dataset not in self._contracts:
            try:
                self._contracts[dataset] = read_contract_columns(self.contracts_dir, dataset)
            except FileNotFoundError:
                self._contracts[dataset] = f"no data contract for {dataset!r} in {self.contracts_dir}"
            except (OSError, ValueError, AttributeError, TypeError) as exc:
                self._contracts[dataset] = f"the data contract for {dataset!r} cannot be read: {exc}"
        return self._contracts[dataset]

    def p(self, path: str, message: str, verdict: Verdict = Verdict.FAILED) -> Problem:
        return Problem(verdict, self.project, path, message)

    def r(self, path: str, message: str, verdict: Verdict = Verdict.FAILED) -> Problem:
        return Problem(verdict, self.request, path, message)

    def variables(self) -> list[tuple[str, int, int, Any]]:
        """(dataset, dataset index, variable index, variable) for every requested variable."""
        return [
            (ds.dataset, i, j, v)
            for i, ds in enumerate(self.app.data_request.datasets)
            for j, v in enumerate(ds.variables)
        ]


def _years_later(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


# --- project id, dates --------------------------------------------------------------------------


def _id_format(c: _Context) -> list[Problem]:
    pid = c.app.id
    if len(pid) > voc.PROJECT_ID_MAX_LENGTH or not voc.PROJECT_ID_PATTERN.fullmatch(pid):
        return [
            c.p(
                "id",
                f"{pid!r} is not a valid project id: use lowercase letters, digits and single "
                f"hyphens, starting with a letter, at most {voc.PROJECT_ID_MAX_LENGTH} characters "
                "(e.g. p2026-001-diabetes); it becomes a Unix group and a JupyterHub server name",
            )
        ]
    if len(pid) > UNIX_GROUP_MAX:
        return [
            c.p(
                "id",
                f"{pid!r} is longer than {UNIX_GROUP_MAX} characters, which some systems refuse "
                "as a Unix group name",
                Verdict.WARNING,
            )
        ]
    return []


def _dates_order(c: _Context) -> list[Problem]:
    a = c.app
    if a.end_date <= a.start_date:
        return [c.p("end_date", f"{a.end_date} is not after start_date {a.start_date}")]
    return []


def _dates_end_in_future(c: _Context) -> list[Problem]:
    if c.app.end_date <= c.today:
        return [c.p("end_date", f"{c.app.end_date} is not in the future (today is {c.today})")]
    return []


def _dates_deletion(c: _Context) -> list[Problem]:
    a = c.app
    if a.deletion_date < a.end_date:
        return [
            c.p(
                "deletion_date",
                f"{a.deletion_date} is before end_date {a.end_date}; data are deleted "
                "on or after the end of the project",
            )
        ]
    return []


def _dates_duration(c: _Context) -> list[Problem]:
    a = c.app
    if a.end_date > _years_later(a.start_date, MAX_DURATION_YEARS):
        return [
            c.p(
                "end_date",
                f"the project runs from {a.start_date} to {a.end_date}, longer than "
                f"{MAX_DURATION_YEARS} years (the longest data permit)",
            )
        ]
    return []


# --- people ---------------------------------------------------------------------------------------


def _members_leader(c: _Context) -> list[Problem]:
    a, out = c.app, []
    leaders = [i for i, m in enumerate(a.members) if m.role == "project_leader"]
    usernames = [m.username for m in a.members]
    if a.project_leader not in usernames:
        out.append(
            c.p(
                "project_leader",
                f"{a.project_leader!r} is not the username of a member (members: {', '.join(usernames)})",
            )
        )
    else:
        i = usernames.index(a.project_leader)
        if a.members[i].role != "project_leader":
            out.append(
                c.p(
                    f"members[{i}].role",
                    f"{a.project_leader} is the project leader but has role "
                    f"{a.members[i].role!r}; it should be 'project_leader'",
                )
            )
    for i in leaders:
        if a.members[i].username != a.project_leader:
            out.append(
                c.p(
                    f"members[{i}].role",
                    f"{a.members[i].username} has role 'project_leader' but the "
                    f"project_leader is {a.project_leader!r}; a project has one leader",
                )
            )
    return out


def _members_accounts(c: _Context) -> list[Problem]:
    out, seen = [], set()
    for i, m in enumerate(c.app.members):
        if not voc.USERNAME_PATTERN.fullmatch(m.username):
            out.append(
                c.p(
                    f"members[{i}].username",
                    f"{m.username!r} is not a valid account name: lowercase "
                    "letters, digits, '_' or '-', starting with a letter, "
                    "at most 32 characters",
                )
            )
        elif m.username in seen:
            out.append(c.p(f"members[{i}].username", f"{m.username!r} is used by more than one member"))
        seen.add(m.username)
        if not voc.EMAIL_PATTERN.fullmatch(m.email):
            out.append(c.p(f"members[{i}].email", f"{m.email!r} is not an email address"))
    return out


def _members_trained(c: _Context) -> list[Problem]:
    out, oldest = [], _years_later(c.today, -TRAINING_VALID_YEARS)
    for i, m in enumerate(c.app.members):
        path = f"members[{i}].training_date"
        if m.training_date is None:
            out.append(
                c.p(
                    path,
                    f"{m.name} has no training date; every member completes the data "
                    f"protection training (valid {TRAINING_VALID_YEARS} years)",
                )
            )
        elif m.training_date > c.today:
            out.append(c.p(path, f"{m.name}'s training date {m.training_date} is in the future"))
        elif m.training_date < oldest:
            out.append(
                c.p(
                    path,
                    f"{m.name}'s training on {m.training_date} has expired (older than "
                    f"{TRAINING_VALID_YEARS} years); renew it",
                )
            )
    return out


def _members_confidentiality(c: _Context) -> list[Problem]:
    return [
        c.p(
            f"members[{i}].confidentiality_signed",
            f"{m.name} has not signed the confidentiality declaration (taushetserklæring)",
        )
        for i, m in enumerate(c.app.members)
        if not m.confidentiality_signed
    ]


# --- approvals ------------------------------------------------------------------------------------


def _approvals_status(c: _Context) -> list[Problem]:
    out = []
    for i, ap in enumerate(c.app.approvals):
        what = f"the {ap.type} approval {ap.reference!r}"
        if ap.status == "rejected":
            out.append(c.p(f"approvals[{i}].status", f"{what} was rejected"))
        elif ap.status == "pending":
            verdict = Verdict.FAILED if c.for_provisioning else Verdict.WARNING
            out.append(
                c.p(
                    f"approvals[{i}].status",
                    f"{what} is still pending; every approval must be approved before provisioning",
                    verdict,
                )
            )
    return out


def _needs_approval(c: _Context, kind: str, why: str) -> list[Problem]:
    if not any(ap.type == kind for ap in c.app.approvals):
        return [
            c.p(
                "approvals",
                f"{why} needs an approval of type {kind} ({voc.APPROVAL_TYPES[kind]}); none is listed",
            )
        ]
    return []


def _approvals_rek(c: _Context) -> list[Problem]:
    if c.app.purpose != "scientific_research":
        return []
    return _needs_approval(c, "rek", "scientific research")


def _approvals_dpo(c: _Context) -> list[Problem]:
    return _needs_approval(c, "dpo", "every project")


def _approvals_exemption(c: _Context) -> list[Problem]:
    bases = sorted(set(c.app.legal_basis.national) & voc.CONFIDENTIALITY_EXEMPTION_BASES)
    if not bases:
        return []
    return _needs_approval(c, "exemption_from_confidentiality", f"the legal basis {', '.join(bases)}")


def _approvals_validity(c: _Context) -> list[Problem]:
    out, a = [], c.app
    for i, ap in enumerate(a.approvals):
        if ap.status == "approved" and ap.date > c.today:
            out.append(c.p(f"approvals[{i}].date", f"approved on {ap.date}, which is in the future"))
        if ap.valid_until is not None and ap.valid_until < a.end_date:
            out.append(
                c.p(
                    f"approvals[{i}].valid_until",
                    f"the {ap.type} approval ends on {ap.valid_until}, "
                    f"before the project's end_date {a.end_date}",
                )
            )
    return out


# --- privacy budget -------------------------------------------------------------------------------


def _dp_budget(c: _Context) -> list[Problem]:
    eps, delta, out = c.app.dp_budget.epsilon, c.app.dp_budget.delta, []
    if not eps > 0:
        out.append(c.p("dp_budget.epsilon", f"{eps} should be greater than 0"))
    elif eps > EPSILON_WARN_ABOVE:
        out.append(
            c.p(
                "dp_budget.epsilon",
                f"{eps} is above {EPSILON_WARN_ABOVE:g}, a weak privacy guarantee; "
                "justify it to the data protection officer",
                Verdict.WARNING,
            )
        )
    if not (0 < delta < DELTA_MAX) or math.isnan(delta):
        out.append(c.p("dp_budget.delta", f"{delta:g} should be greater than 0 and less than {DELTA_MAX:g}"))
    return out


# --- data request ---------------------------------------------------------------------------------


def _triviality(text: str | None, name: str) -> str | None:
    """Why ``text`` does not justify ``name`` (None when it does)."""
    if text is None or not text.strip():
        return "missing; say why the project needs it"
    text = text.strip()
    if len(text) < MIN_JUSTIFICATION_CHARS:
        return f"too short ({len(text)} characters, at least {MIN_JUSTIFICATION_CHARS}): {text!r}"
    own = set(re.findall(r"[a-z0-9]+", name.lower().replace("_", " "))) | {name.lower()}
    words = [
        w for w in re.findall(r"[a-z0-9_]+", text.lower()) if w not in _PLACEHOLDER_WORDS and w not in own
    ]
    if len([w for w in words if len(w) >= 3]) < MIN_JUSTIFICATION_WORDS:
        return f"{text!r} only repeats the name or a placeholder; explain how the analysis uses it"
    return None


def _variables_justified(c: _Context) -> list[Problem]:
    out = []
    for ds, i, j, v in c.variables():
        reason = _triviality(v.justification, v.name)
        if reason:
            out.append(c.r(f"datasets[{i}].variables[{j}].justification", f"{ds}.{v.name}: {reason}"))
    row_level = any(v.identifiability != "aggregated" for *_, v in c.variables())
    reason = _triviality(c.app.data_request.why_not_anonymous, "why_not_anonymous") if row_level else None
    if reason:
        out.append(
            c.r(
                "why_not_anonymous",
                f"row-level data are requested, so say why anonymous or aggregated "
                f"data will not do: {reason}",
            )
        )
    return out


def _variables_unique(c: _Context) -> list[Problem]:
    out, datasets = [], set()
    for i, ds in enumerate(c.app.data_request.datasets):
        if ds.dataset in datasets:
            out.append(
                c.r(f"datasets[{i}].dataset", f"{ds.dataset} is listed more than once; merge the entries")
            )
        datasets.add(ds.dataset)
        names: set[str] = set()
        for j, v in enumerate(ds.variables):
            if v.name in names:
                out.append(
                    c.r(f"datasets[{i}].variables[{j}].name", f"{ds.dataset}.{v.name} is requested twice")
                )
            names.add(v.name)
    return out


def _variables_known(c: _Context) -> list[Problem]:
    out, reported = [], set()
    for ds, i, j, v in c.variables():
        columns = c.contract(ds)
        if isinstance(columns, str):
            if i not in reported:
                verdict = Verdict.FAILED if columns.startswith("no data contract") else Verdict.ERROR
                out.append(c.r(f"datasets[{i}].dataset", columns, verdict))
                reported.add(i)
        elif v.name not in columns:
            close = difflib.get_close_matches(v.name, list(columns), n=1)
            hint = f"did you mean {close[0]!r}?" if close else f"columns: {', '.join(columns)}"
            out.append(
                c.r(
                    f"datasets[{i}].variables[{j}].name",
                    f"{ds} has no column {v.name!r} in its data contract ({hint})",
                )
            )
    return out


def _policies(c: _Context) -> list[tuple[str, int, int, Any, ColumnPolicy]]:
    found = []
    for ds, i, j, v in c.variables():
        columns = c.contract(ds)
        if not isinstance(columns, str) and v.name in columns:
            found.append((ds, i, j, v, columns[v.name]))
    return found


def _variables_direct_identifiers(c: _Context) -> list[Problem]:
    return [
        c.r(
            f"datasets[{i}].variables[{j}].name",
            f"{ds}.{v.name} is a direct identifier and is never "
            "released; tables are linked by the project's pseudonym, "
            "which provisioning adds",
        )
        for ds, i, j, v, pol in _policies(c)
        if pol.classification == "direct_identifier"
    ]


def _variables_granularity(c: _Context) -> list[Problem]:
    out = []
    for ds, i, j, v, pol in _policies(c):
        path = f"datasets[{i}].variables[{j}]"
        allowed = ("as_is", *pol.coarsening)
        if v.granularity not in allowed:
            out.append(
                c.r(
                    f"{path}.granularity",
                    f"{v.granularity!r} is not allowed for {ds}.{v.name}; its "
                    f"contract allows: {', '.join(allowed)}",
                )
            )
        elif v.identifiability == "coarsened" and v.granularity == "as_is":
            hint = (
                f"choose one of: {', '.join(pol.coarsening)}" if pol.coarsening else "it cannot be coarsened"
            )
            out.append(
                c.r(f"{path}.granularity", f"{ds}.{v.name} is declared coarsened but requested as_is; {hint}")
            )
    return out


def _variables_minimised(c: _Context) -> list[Problem]:
    return [
        c.r(
            f"datasets[{i}].variables[{j}].granularity",
            f"{ds}.{v.name} is a quasi-identifier requested "
            f"as_is; its contract allows coarsening to "
            f"{', '.join(pol.coarsening)}",
            Verdict.WARNING,
        )
        for ds, i, j, v, pol in _policies(c)
        if pol.classification == "quasi_identifier"
        and pol.coarsening
        and v.granularity == "as_is"
        and v.identifiability != "coarsened"
    ]  # declared coarsened but as_is already fails


def _cohort_codes(c: _Context) -> list[Problem]:
    cohort, out = c.app.data_request.cohort, []
    systems = (
        ("icd10", "ICD-10", cohort.icd10, voc.ICD10_PREFIX_PATTERN, "E11 or E119"),
        ("atc", "ATC", cohort.atc, voc.ATC_PREFIX_PATTERN, "A10B or A10BA02"),
    )
    for field_name, system, entries, pattern, example in systems:
        for k, entry in enumerate(entries):
            if not pattern.fullmatch(entry.code):
                out.append(
                    c.r(
                        f"cohort.{field_name}[{k}].code",
                        f"{entry.code!r} is not a valid {system} code "
                        f"prefix (e.g. {example}; capitals, no dots)",
                    )
                )
    if not cohort.icd10 and not cohort.atc:
        out.append(c.r("cohort", "no ICD-10 or ATC codes; the cohort is defined by at least one code"))
    return out


def _cohort_window(c: _Context) -> list[Problem]:
    w = c.app.data_request.cohort.window
    return (
        [c.r("cohort.window.end", f"{w.end} is not after cohort.window.start {w.start}")]
        if w.end <= w.start
        else []
    )


_Rule = Callable[[_Context], list[Problem]]
RULES: tuple[tuple[str, _Rule, str], ...] = (
    ("application.id.format", _id_format, "the project id is a valid slug"),
    ("application.dates.order", _dates_order, "end_date is after start_date"),
    ("application.dates.end_in_future", _dates_end_in_future, "end_date is in the future"),
    ("application.dates.deletion", _dates_deletion, "deletion_date is on or after end_date"),
    (
        "application.dates.duration",
        _dates_duration,
        f"the project is at most {MAX_DURATION_YEARS} years long",
    ),
    (
        "application.members.leader",
        _members_leader,
        "the project leader is the one member with role project_leader",
    ),
    ("application.members.accounts", _members_accounts, "usernames are valid and unique; emails are valid"),
    (
        "application.members.trained",
        _members_trained,
        f"every member trained within {TRAINING_VALID_YEARS} years",
    ),
    (
        "application.members.confidentiality",
        _members_confidentiality,
        "every member signed the confidentiality declaration",
    ),
    ("application.approvals.status", _approvals_status, "every approval is approved"),
    ("application.approvals.rek", _approvals_rek, "a REK approval is listed where needed"),
    ("application.approvals.dpo", _approvals_dpo, "a data protection officer approval is listed"),
    (
        "application.approvals.exemption",
        _approvals_exemption,
        "an exemption from confidentiality is listed where the legal basis needs one",
    ),
    (
        "application.approvals.validity",
        _approvals_validity,
        "approvals are dated and cover the project period",
    ),
    ("application.dp_budget", _dp_budget, "the differential-privacy budget is sane"),
    ("application.variables.justified", _variables_justified, "every variable is justified"),
    ("application.variables.unique", _variables_unique, "no dataset or variable is requested twice"),
    ("application.variables.known", _variables_known, "every dataset and variable is in the data contracts"),
    (
        "application.variables.direct_identifiers",
        _variables_direct_identifiers,
        "no direct identifier is requested",
    ),
    (
        "application.variables.granularity",
        _variables_granularity,
        "every granularity is one the contract allows",
    ),
    (
        "application.variables.minimised",
        _variables_minimised,
        "quasi-identifiers are coarsened where possible",
    ),
    ("application.cohort.codes", _cohort_codes, "the cohort is defined by valid ICD-10/ATC code prefixes"),
    ("application.cohort.window", _cohort_window, "the cohort window ends after it starts"),
)


def check_application(
    app: Application,
    *,
    contracts_dir: str | Path | None = None,
    today: dt.date | None = None,
    for_provisioning: bool = False,
) -> Run:
    """Run every rule on ``app``; one check per rule, all problems reported at once.

    ``today`` (default :meth:`date.today`) anchors the date and training rules; ``for_provisioning``
    turns pending approvals from warnings into failures.
    """
    today = today or dt.date.today()
    project, request = app.file_names
    ctx = _Context(
        app, today, for_provisioning, Path(contracts_dir or DEFAULT_CONTRACTS_DIR), project, request
    )
    run = Run(
        name="application",
        metadata={
            "project": app.id,
            "application_hash": application_hash(app),
            "today": today.isoformat(),
            "for_provisioning": for_provisioning,
            "contracts_dir": str(ctx.contracts_dir),
            "files": [str(p) for p in (app.project_file, app.data_request_file) if p is not None],
        },
    )
    for key, rule, ok in RULES:
        problems = rule(ctx)
        verdict = Verdict.worst([p.verdict for p in problems])
        message = "; ".join(map(str, problems)) if problems else ok
        run.checks.append(
            Check(
                key=key,
                kind="application",
                verdict=verdict,
                message=message,
                details={"problems": [p.to_dict() for p in problems]},
            )
        )
    return run.finish()


def run_problems(run: Run, *, include_warnings: bool = True) -> list[str]:
    """Every problem of a :func:`check_application` run as ``file: path: message`` text."""
    skip = {Verdict.PASSED.value} | (set() if include_warnings else {Verdict.WARNING.value})
    return [p["text"] for c in run.checks for p in c.details.get("problems", []) if p["verdict"] not in skip]
