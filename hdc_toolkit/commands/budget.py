"""``hdc budget show PROJECT`` and ``hdc budget reconcile``: a project's differential-privacy budget."""

from __future__ import annotations

import argparse
import json
from typing import Any

__all__ = ["register"]


def register(subparsers: Any) -> None:
    parser = subparsers.add_parser("budget", help="show or reconcile a project's privacy budget ledger")
    sub = parser.add_subparsers(dest="budget_command", metavar="ACTION", required=True)

    show = sub.add_parser(
        "show", help="the cap, the composed total (RDP) beside the naive sum of ε, and every run"
    )
    show.add_argument("project", metavar="PROJECT")
    show.add_argument("--dataset", metavar="D", help="only this dataset's account (default: all)")
    show.add_argument("--json", action="store_true", help="print the accounts as JSON")
    show.set_defaults(handler=_show)

    reconcile = sub.add_parser(
        "reconcile",
        help="settle reservations whose process died or overran its deadline (charged in full if started)",
    )
    reconcile.add_argument("project", metavar="PROJECT", nargs="?", help="only this project (default: all)")
    reconcile.add_argument("--by", default="hdc-ledger", metavar="NAME", help="who reconciles (audit log)")
    reconcile.set_defaults(handler=_reconcile)


def _ledger(args: argparse.Namespace) -> Any:
    from hdc_toolkit.config import Settings
    from hdc_toolkit.privacy.ledger import BudgetLedger

    return BudgetLedger(Settings.from_env(args.environ))


def _show(args: argparse.Namespace) -> int:
    ledger = _ledger(args)
    accounts = [ledger.account(args.project, args.dataset)] if args.dataset else ledger.accounts(args.project)
    if args.json:
        print(json.dumps([a.to_dict() for a in accounts], indent=2, default=str))
        return 0
    for account in accounts:
        _print_account(account)
    return 0


def _fmt(x: float | None) -> str:
    return "–" if x is None else f"{x:.4g}"


def _print_account(a: Any) -> None:
    total, spent = a.total, a.spent
    print(f"project {a.project_id}   dataset {a.dataset}")
    print(f"  cap          ε {_fmt(a.cap_epsilon)}   δ {_fmt(a.cap_delta)}")
    print(
        f"  composed     ε {_fmt(total.bound)} ({total.accountant}, at δ {_fmt(total.delta)})"
        f"   spent {_fmt(spent.bound)}, live reservations {len(a.live)}"
    )
    print(f"  naive sum    ε {_fmt(total.naive_epsilon)}   δ {_fmt(total.naive_delta)}")
    print(f"  remaining    ε {_fmt(a.remaining_epsilon)}" + ("   (budget spent)" if a.exhausted else ""))
    if not a.entries:
        print("  no runs yet")
        return
    print(f"  {'run':<10} {'kind':<13} {'state':<10} {'by':<10} {'ε':>8} {'δ':>9} {'mechanism':<34} created")
    for e in a.entries:
        eps = e.counted_epsilon
        mech = e.charged_mechanism or e.mechanism
        print(
            f"  {e.run_id[:8]:<10} {e.kind:<13} {e.state:<10} {e.actor:<10} {eps:>8.4g} {e.delta:>9.2g} "
            f"{_mechanism(mech):<34} {e.created_at:%Y-%m-%d %H:%M}"
        )


def _mechanism(m: Any) -> str:
    d = m.to_dict()
    if d["kind"] == "subsampled_gaussian":
        return f"DP-SGD σ={d['noise_multiplier']:.3g} q={d['sample_rate']:.3g} T={d['steps']}"
    if d["kind"] == "zcdp":
        return f"zCDP ρ={d['rho']:.3g}"
    return f"(ε={d['epsilon']:.3g}, δ={d['delta']:.2g})"


def _reconcile(args: argparse.Namespace) -> int:
    decisions = _ledger(args).reconcile(args.project, by=args.by)
    if not decisions:
        print("nothing to reconcile: every live reservation has a live owner within its deadline")
    for d in decisions:
        print(
            f"{d.run_id[:8]}  {d.project_id}  {d.from_state} → {d.to_state}  ε {d.charged_epsilon:.4g}  ({d.reason})"
        )
    return 0
