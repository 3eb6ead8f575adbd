"""``hdc synth fit|sample|report|twin``: synthetic twins from contracts, with a quality and privacy gate."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "synth",
        help="fit synthesizers, sample contract-valid synthetic data, gate and report it",
        description=(
            "Synthetic twins. The default synthesizer 'fast' is this toolkit's own; 'gaussian_copula', 'ctgan', "
            "'tvae' and 'hma' use SDV (Business Source License 1.1: no synthetic-data service to third parties)."
        ),
    )
    ssub = parser.add_subparsers(dest="synth_command", metavar="ACTION")
    ssub.required = True

    p = ssub.add_parser(
        "fit", help="fit a synthesizer to real tables (the model file stays in the data centre)"
    )
    p.add_argument(
        "data", type=Path, metavar="DATA", help="a release or extract directory (<table>/ Parquet)"
    )
    p.add_argument(
        "--contracts",
        type=Path,
        metavar="DIR",
        help="contract file or directory (default: the release's own)",
    )
    p.add_argument(
        "--model", type=Path, required=True, metavar="OUT", help="where to write the fitted model (sensitive)"
    )
    _common(p)
    p.add_argument(
        "--min-count",
        type=int,
        metavar="K",
        help="values seen fewer than K times are never generated (default: the risk profile's)",
    )
    p.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="synthesizer option, e.g. epochs=50 (repeatable)",
    )
    p.set_defaults(handler=_fit)

    p = ssub.add_parser("sample", help="sample synthetic tables from a fitted model and validate them")
    p.add_argument("--model", type=Path, required=True, metavar="MODEL")
    p.add_argument(
        "--out", type=Path, required=True, metavar="DIR", help="new directory for <table>/part-00000.parquet"
    )
    p.add_argument(
        "--scale", type=float, default=1.0, help="rows as a multiple of the fitted row counts (default 1)"
    )
    p.add_argument("--rows", type=int, metavar="N", help="rows of the root table (single-root schemas)")
    p.add_argument("--seed", type=int, metavar="S")
    p.set_defaults(handler=_sample)

    p = ssub.add_parser(
        "report",
        help="gate synthetic data: contract validity, quality, privacy against a real holdout",
        description="Exit 0 when the gate passes, 1 when a check fails, 2 when the input cannot be used.",
    )
    p.add_argument(
        "--real",
        type=Path,
        required=True,
        metavar="DIR",
        help="the real tables the synthesizer was fitted on",
    )
    p.add_argument("--synthetic", type=Path, required=True, metavar="DIR")
    p.add_argument(
        "--holdout",
        type=Path,
        metavar="DIR",
        help="real tables the synthesizer never saw (required for privacy)",
    )
    p.add_argument("--contracts", type=Path, required=True, metavar="DIR")
    p.add_argument("--risk-profile", default=None, help="acro-default (default), opensafely or nhs-sde")
    p.add_argument(
        "--target", metavar="COLUMN", help="a column to predict for the train-on-synthetic utility test"
    )
    p.add_argument("--json", type=Path, metavar="OUT", help="write the gate result here")
    p.add_argument("--html", type=Path, metavar="OUT", help="write the HTML report here")
    p.set_defaults(handler=_report)

    p = ssub.add_parser(
        "twin",
        help="make, gate and publish the synthetic twin of a release (what provisioning does)",
        description="Exit 0 when the twin passed the gate and was published, 1 when the gate refused it.",
    )
    p.add_argument("release", type=Path, metavar="RELEASE", help="a release directory (tables and contracts)")
    p.add_argument("--out", type=Path, required=True, metavar="DIR")
    p.add_argument("--contracts", type=Path, metavar="DIR")
    _common(p)
    p.add_argument("--holdout-fraction", type=float, default=0.2, metavar="F")
    p.add_argument("--target", metavar="COLUMN")
    p.add_argument(
        "--refused-dir", type=Path, metavar="DIR", help="where a refused twin's gate result and report go"
    )
    p.add_argument("--replace", action="store_true", help="replace an earlier twin in DIR")
    p.set_defaults(handler=_twin)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--synthesizer",
        default="fast",
        help="fast (default), gaussian_copula, ctgan, tvae, hma, or a registered plug-in",
    )
    p.add_argument("--risk-profile", default=None, help="acro-default (default), opensafely or nhs-sde")
    p.add_argument("--seed", type=int, metavar="S")


def _options(items: list[str]) -> dict[str, Any]:
    from hdc_toolkit.exceptions import HdcUserError

    out: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise HdcUserError(f"--option expects KEY=VALUE; got {item!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _contracts(path: Path | None, data: Path) -> Any:
    if path is None:
        from hdc_toolkit.synth.twin import find_contracts

        return find_contracts(data)
    from hdc_toolkit.contracts import load_contract, load_contract_dir

    if path.is_file():
        c = load_contract(path)
        return {c.name: c}
    return load_contract_dir(path)


def _fit(args: argparse.Namespace) -> int:
    from hdc_toolkit.synth.synthesizers import fit

    contracts = _contracts(args.contracts, args.data)
    model = fit(args.data, contracts, synthesizer=args.synthesizer, risk_profile=args.risk_profile,
                min_count=args.min_count, seed=args.seed, **_options(args.option))  # fmt: skip
    model.save(args.model)
    print(f"fitted {args.synthesizer} on {sum(model.real_rows.values()):,} rows of {len(model.real_rows)} table(s) "
          f"in {model.fit_seconds:.1f} s; model written to {args.model} (sensitive: keep it in the data centre)")  # fmt: skip
    for note in model.notes:
        print(f"  note: {note}")
    return 0


def _sample(args: argparse.Namespace) -> int:
    from hdc_toolkit._io import atomic_dir
    from hdc_toolkit.contracts.validate import validate_extract
    from hdc_toolkit.synth.synthesizers import load_model

    model = load_model(args.model)
    data = model.sample(scale=args.scale, num_rows=args.rows, seed=args.seed)
    with atomic_dir(args.out) as tmp:
        data.write(tmp, model.contracts)
        runs = validate_extract(model.contracts, tmp)
    ok = all(r.passed for r in runs.values())
    for t, df in data.items():
        print(f"{t:<20} {len(df):>10,} rows   contract: {'passed' if runs[t].passed else 'FAILED'}")
    fixes = data.repair_log.total_changed
    print(f"{data.seconds:.1f} s; {fixes:,} value(s) repaired to meet the contracts; written to {args.out}")
    return 0 if ok else 1


def _report(args: argparse.Namespace) -> int:
    from hdc_toolkit.synth._frames import read_tables
    from hdc_toolkit.synth.twin import evaluate

    contracts = _contracts(args.contracts, args.real)
    real = read_tables(args.real, contracts)
    syn = read_tables(args.synthetic, contracts)
    hold = read_tables(args.holdout, contracts) if args.holdout else None
    gate = evaluate(real, syn, hold, contracts, risk_profile=args.risk_profile, target=args.target)
    if args.json:
        from hdc_toolkit._io import atomic_write_json

        atomic_write_json(args.json, gate.to_dict())
    if args.html:
        gate.report().write(args.html)
    _print_gate(gate)
    return 0 if gate.passed else 1


def _twin(args: argparse.Namespace) -> int:
    from hdc_toolkit.synth.twin import make_twin

    contracts = _contracts(args.contracts, args.release) if args.contracts else None
    result = make_twin(args.release, args.out, contracts=contracts, risk_profile=args.risk_profile,
                       synthesizer=args.synthesizer, holdout_fraction=args.holdout_fraction, seed=args.seed,
                       target=args.target, refused_dir=args.refused_dir, replace=args.replace)  # fmt: skip
    _print_gate(result.gate)
    if result.published:
        print(f"published to {result.out_dir}")
        return 0
    where = f"; gate result and report in {result.refused_dir}" if result.refused_dir else ""
    print(f"refused: nothing published{where}", file=sys.stderr)
    return 1


def _print_gate(gate: Any) -> None:
    for c in gate.run.checks:
        if c.verdict.value != "passed":
            print(f"{c.verdict.value:<8} {c.key}: {c.message}")
    counts = gate.run.counts()
    print(f"gate {gate.run.verdict.value.upper()} ({counts['passed']} passed, {counts['warning']} warnings, "
          f"{counts['failed']} failed, {counts['error']} errors; risk profile {gate.settings.name})")  # fmt: skip
