"""The research application: ``project.yaml`` plus the ``data_request.yaml`` it names.

The approved application is the permit (see DESIGN.md), so its schema is strict: frozen pydantic
models with ``extra="forbid"`` (a misspelt field is an error, not silently ignored) and closed
vocabularies (:mod:`hdc_toolkit.projects.vocabularies`). The schema checks shapes, types and closed
lists; formats, dates, people, approvals and the data request are judged by the rules in
:mod:`hdc_toolkit.projects.application_rules`, which return results instead of raising.

:func:`load_application` reads both files and raises one
:class:`~hdc_toolkit.exceptions.ApplicationError` listing every problem as
``file: dotted.path: message`` (malformed YAML as ``file:line: message``).
:func:`canonical_json` and :func:`application_hash` give the stable form the permit hashes to detect
amendments: key order, YAML layout and comments do not change the hash; any change of content does.
"""

from __future__ import annotations

import datetime as dt
import difflib
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, get_args

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
)

from hdc_toolkit.exceptions import ApplicationError, NotFoundError
from hdc_toolkit.projects import vocabularies as voc

__all__ = [
    "Application",
    "Approval",
    "CodeEntry",
    "Cohort",
    "DataRequest",
    "DatasetRequest",
    "DpBudget",
    "LegalBasis",
    "Member",
    "TimeWindow",
    "Variable",
    "application_hash",
    "canonical_json",
    "load_application",
]


def _parse_date(value: Any) -> Any:
    """Accept a YAML date or an ISO ``YYYY-MM-DD`` string; refuse times, numbers and other strings."""
    if isinstance(value, dt.datetime):
        raise ValueError("should be a date (YYYY-MM-DD) without a time")
    if isinstance(value, dt.date) or value is None:
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"should be a date written YYYY-MM-DD (got {value!r})") from None
    raise ValueError(f"should be a date written YYYY-MM-DD (got {value!r})")


def _one_of(vocabulary: dict[str, str], what: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if value not in vocabulary:
            raise ValueError(f"{value!r} is not a known {what}; choose one of: {voc.choices(vocabulary)}")
        return value

    return check


IsoDate = Annotated[dt.date, BeforeValidator(_parse_date)]
Text = Annotated[str, Field(min_length=1)]
Purpose = Annotated[str, AfterValidator(_one_of(voc.PURPOSES, "purpose"))]
Art6 = Annotated[str, AfterValidator(_one_of(voc.GDPR_ART6, "GDPR art. 6(1) letter"))]
Art9 = Annotated[str, AfterValidator(_one_of(voc.GDPR_ART9, "GDPR art. 9(2) letter"))]
NationalBasis = Annotated[str, AfterValidator(_one_of(voc.NATIONAL_BASES, "national legal basis"))]
Role = Annotated[str, AfterValidator(_one_of(voc.ROLES, "role"))]
ApprovalType = Annotated[str, AfterValidator(_one_of(voc.APPROVAL_TYPES, "approval type"))]
ApprovalStatus = Annotated[str, AfterValidator(_one_of(voc.APPROVAL_STATUSES, "approval status"))]
RiskProfile = Annotated[str, AfterValidator(_one_of(voc.RISK_PROFILES, "risk profile"))]
DatasetName = Annotated[str, AfterValidator(_one_of(voc.DATASETS, "dataset"))]
Identifiability = Annotated[str, AfterValidator(_one_of(voc.IDENTIFIABILITY, "identifiability level"))]
Granularity = Annotated[str, AfterValidator(_one_of(voc.GRANULARITIES, "granularity"))]
FiniteFloat = Annotated[float, Field(allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=True)


class Member(_Model):
    """A named person with access; ``username`` becomes their Unix and JupyterHub account."""

    name: Text
    username: Text
    email: Text
    institution: Text
    role: Role
    training_date: IsoDate | None = None
    confidentiality_signed: bool = False


class LegalBasis(_Model):
    """GDPR art. 6(1) and art. 9(2) letters plus the national basis (confirmed by the DPO)."""

    gdpr_art6: Art6
    gdpr_art9: Art9
    national: tuple[NationalBasis, ...] = Field(min_length=1)


class Approval(_Model):
    """One approval the project depends on (REK, DPO, exemption from confidentiality, data owner)."""

    type: ApprovalType
    reference: Text
    date: IsoDate
    status: ApprovalStatus
    valid_until: IsoDate | None = None


class DpBudget(_Model):
    """The project's total differential-privacy budget (the ledger debits it)."""

    epsilon: FiniteFloat
    delta: FiniteFloat


class CodeEntry(_Model):
    """A code prefix of a code list (ICD-10 without the dot, or ATC) and what it means."""

    code: Text
    name: Text


class TimeWindow(_Model):
    """The period whose events are released (inclusive)."""

    start: IsoDate
    end: IsoDate


class Cohort(_Model):
    """Who is in the release: anyone with a listed ICD-10 or ATC code in the window."""

    description: Text
    icd10: tuple[CodeEntry, ...] = ()
    atc: tuple[CodeEntry, ...] = ()
    window: TimeWindow


class Variable(_Model):
    """One requested column, justified, with its identifiability level and granularity."""

    name: Text
    justification: str | None = None
    identifiability: Identifiability
    granularity: Granularity


class DatasetRequest(_Model):
    """The columns requested from one source table."""

    dataset: DatasetName
    variables: tuple[Variable, ...] = Field(min_length=1)


class DataRequest(_Model):
    """The content of ``data_request.yaml``: the cohort and every requested variable."""

    why_not_anonymous: str | None = None
    cohort: Cohort
    datasets: tuple[DatasetRequest, ...] = Field(min_length=1)


class Application(_Model):
    """A research application: people, purpose, legal basis, approvals, dates and data request."""

    id: Text
    title: Text
    summary: Text
    institution: Text
    project_leader: Text
    members: tuple[Member, ...] = Field(min_length=1)
    purpose: Purpose
    legal_basis: LegalBasis
    approvals: tuple[Approval, ...] = ()
    start_date: IsoDate
    end_date: IsoDate
    deletion_date: IsoDate
    risk_profile: RiskProfile
    dp_budget: DpBudget
    data_request: DataRequest

    _project_file: Path | None = PrivateAttr(default=None)
    _data_request_ref: str = PrivateAttr(default="data_request.yaml")

    @property
    def project_file(self) -> Path | None:
        """The ``project.yaml`` this application was loaded from (None when built in code)."""
        return self._project_file

    @property
    def data_request_file(self) -> Path | None:
        """The data request file this application was loaded from (None when built in code)."""
        return None if self._project_file is None else self._project_file.parent / self._data_request_ref

    @property
    def file_names(self) -> tuple[str, str]:
        """How messages name the two files: ``("project.yaml", "data_request.yaml")``."""
        project = self._project_file.name if self._project_file else "project.yaml"
        return project, self._data_request_ref

    @property
    def leader(self) -> Member | None:
        """The member whose username is ``project_leader`` (None when there is none)."""
        return next((m for m in self.members if m.username == self.project_leader), None)

    def member(self, username: str) -> Member:
        """The member with this username; :class:`NotFoundError` when not named in the application."""
        for m in self.members:
            if m.username == username:
                return m
        raise NotFoundError(f"{username!r} is not a member of project {self.id}")

    def permitted_columns(self) -> dict[str, list[str]]:
        """Dataset → requested column names, in the order of the data request."""
        out: dict[str, list[str]] = {}
        for ds in self.data_request.datasets:
            cols = out.setdefault(ds.dataset, [])
            cols.extend(v.name for v in ds.variables if v.name not in cols)
        return out

    def granularity(self, dataset: str, column: str) -> str:
        """The granularity requested for ``dataset.column``; :class:`NotFoundError` when not requested."""
        for ds in self.data_request.datasets:
            if ds.dataset == dataset:
                for v in ds.variables:
                    if v.name == column:
                        return v.granularity
        raise NotFoundError(f"{dataset}.{column} is not in the data request of project {self.id}")


def canonical_json(app: Application) -> str:
    """The application as JSON with sorted keys, no insignificant whitespace and ISO dates."""
    return json.dumps(app.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def application_hash(app: Application) -> str:
    """SHA-256 (hex) of :func:`canonical_json`: changes exactly when the application's content does."""
    return hashlib.sha256(canonical_json(app).encode("utf-8")).hexdigest()


def load_application(path: str | Path) -> Application:
    """Load ``project.yaml`` and the data request file it names (relative to it).

    Raises :class:`ApplicationError` listing every problem when a file is missing, is not valid YAML
    (``file:line: ...``) or does not fit the schema (``file: dotted.path: message``).
    """
    project_path = Path(path)
    project_name = project_path.name
    raw = _read_mapping(project_path, project_name)
    problems: list[str] = []
    ref = raw.get("data_request")
    data_request: Any = None
    if "data_request" not in raw or ref is None:
        problems.append(
            f"{project_name}: data_request: required; name the data request file, e.g. data_request.yaml"
        )
    elif not isinstance(ref, str) or not ref.strip():
        problems.append(
            f"{project_name}: data_request: should name the data request file, e.g. data_request.yaml"
        )
    elif Path(ref).is_absolute():
        problems.append(
            f"{project_name}: data_request: should be a path relative to {project_name} (got {ref!r})"
        )
    else:
        ref = ref.strip()
        dr_path = project_path.parent / ref
        if not dr_path.is_file():
            problems.append(f"{project_name}: data_request: file not found: {ref}")
        else:
            data_request = _read_mapping(dr_path, ref)
    combined = {**raw, "data_request": data_request if data_request is not None else {}}
    try:
        app = Application.model_validate(combined)
    except ValidationError as exc:
        names = (project_name, ref if data_request is not None else None)
        problems.extend(_format_errors(exc, names))
        app = None
    if problems or app is None:
        raise ApplicationError(
            f"the application cannot be read ({len(problems)} problem{'s' if len(problems) != 1 else ''})",
            location=str(project_path),
            problems=problems,
        )
    app._project_file = project_path
    app._data_request_ref = ref
    return app


class _UniqueKeyLoader(yaml.SafeLoader):
    """A safe loader that refuses duplicate keys (the second would silently win)."""


def _construct_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    seen: set[Any] = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(None, None, f"duplicate key {key!r}", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def _read_mapping(path: Path, name: str) -> dict[str, Any]:
    """Parse a YAML file that must hold a mapping; errors name ``file:line``."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ApplicationError(
            "file not found", location=str(path), problems=[f"{name}: file not found"]
        ) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ApplicationError(
            f"cannot read the file: {exc}", location=str(path), problems=[f"{name}: {exc}"]
        ) from None
    try:
        data = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader subclass
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        line = f":{mark.line + 1}" if mark is not None else ""
        column = f" (column {mark.column + 1})" if mark is not None else ""
        raise ApplicationError(
            f"not valid YAML: {problem}",
            location=f"{path}{line}",
            problems=[f"{name}{line}: not valid YAML: {problem}{column}"],
        ) from None
    if data is None:
        raise ApplicationError(
            "the file is empty", location=str(path), problems=[f"{name}: the file is empty"]
        )
    if not isinstance(data, dict):
        message = f"should be a mapping of fields (key: value), not a {type(data).__name__}"
        raise ApplicationError(message, location=str(path), problems=[f"{name}: {message}"])
    return data


_PLAIN_MESSAGES = {
    "missing": "required field is missing",
    "tuple_type": "should be a list",
    "list_type": "should be a list",
    "model_type": "should be a mapping of fields (key: value)",
    "model_attributes_type": "should be a mapping of fields (key: value)",
    "dict_type": "should be a mapping of fields (key: value)",
    "finite_number": "should be a finite number",
}


def _format_errors(exc: ValidationError, names: tuple[str, str | None]) -> list[str]:
    """Turn pydantic's errors into ``file: dotted.path: message`` lines (never a traceback)."""
    project_name, request_name = names
    lines: list[str] = []
    errors = exc.errors(include_url=False)
    failing = {tuple(e["loc"]) for e in errors}
    for err in errors:
        loc = tuple(err["loc"])
        if err["type"] == "too_short" and any(o[: len(loc)] == loc and len(o) > len(loc) for o in failing):
            continue  # "at least one entry" only because the entries themselves are invalid
        file, in_request = project_name, False
        if loc and loc[0] == "data_request":
            if request_name is None:
                continue  # the data request file could not be read; that is reported already
            file, loc, in_request = request_name, loc[1:], True
        path = _dotted(loc)
        message = _message(err, loc, in_request=in_request)
        lines.append(f"{file}: {path}: {message}" if path else f"{file}: {message}")
    return lines


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _message(err: Any, loc: tuple[Any, ...], *, in_request: bool) -> str:
    kind, value = err["type"], err.get("input")
    if kind == "extra_forbidden":
        root: type[BaseModel] | None = DataRequest if in_request else Application
        model = _model_at(root, loc[:-1])
        close = difflib.get_close_matches(str(loc[-1]), list(model.model_fields) if model else [], n=1)
        return "unknown field" + (f" (did you mean {close[0]!r}?)" if close else "")
    if kind in _PLAIN_MESSAGES:
        return _PLAIN_MESSAGES[kind]
    if value is None or (kind == "string_too_short" and value == ""):
        return "is empty; fill it in"
    if kind == "too_short":
        return "should list at least one entry"
    message = str(err["msg"]).removeprefix("Value error, ")
    if kind in ("value_error", "assertion_error") or isinstance(value, (dict, list)):
        return message
    return f"{message} (got {value!r})"


def _model_at(model: type[BaseModel] | None, loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model class found at ``loc`` below ``model`` (list indices are skipped)."""
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(str(part)) if model is not None else None
        if field is None:
            return None
        model = _inner_model(field.annotation)
    return model


def _inner_model(annotation: Any) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in get_args(annotation):
        found = _inner_model(arg)
        if found is not None:
            return found
    return None
