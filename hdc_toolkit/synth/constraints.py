"""Contract constraints on synthetic data: derived once, honoured by every synthesizer, proven by the validator.

Where each constraint comes from:

* **the contract** — column types, required columns, ranges (``minimum``/``maximum``), allowed codes,
  patterns, lengths, uniqueness, foreign keys, and pair rules (:class:`Order`: ``discharge_time``
  is not before ``admission_time``; ``death_date`` not before ``birth_date``);
* **the structure of the real data** — cross-table time bounds (:class:`Bound`) that hold for *every*
  real row: an event is not before the patient's birth and **not after the patient's death**, a
  diagnosis date lies within its episode. Only bounds with no exception in the real data are kept,
  and only the rule (which columns, which direction) is stored, never a value.

How they are honoured: the fast synthesizer builds them in (an ordered pair is modelled as the
lower value plus a non-negative gap; a child time is sampled conditionally on its parent and
re-drawn when outside its bounds). Every synthesizer's output then goes through :func:`repair`,
a vectorised pass that fixes what is left (clipping, re-drawing invalid codes, re-linking orphans)
and drops rows it cannot fix, counting everything it did. :func:`validate_synthetic` writes the
tables as Parquet with the contract schema and runs the foundation validator: a synthetic release
is only published when it passes with zero failures.

Comparisons between a date and a timestamp are made by day (an admission at 14:00 on the day of
death is not after the death).
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hdc_toolkit.contracts.model import Contract
from hdc_toolkit.synth.metadata import ColumnPlan, SchemaPlan, TablePlan

__all__ = [
    "Bound",
    "ConstraintSet",
    "Order",
    "RepairLog",
    "derive_constraints",
    "repair",
    "validate_synthetic",
    "violations",
]

DAY = np.timedelta64(1, "D")


def as_datetime64(s: Any, unit: str = "us") -> np.ndarray:
    """Any date-like values (Series, array) as a ``datetime64[unit]`` array, NaT for nulls; fast path for datetime64."""
    if (
        isinstance(s, pd.Series)
        and pd.api.types.is_datetime64_any_dtype(s.dtype)
        and not isinstance(s.dtype, pd.DatetimeTZDtype)
    ):
        return s.to_numpy(dtype=f"datetime64[{unit}]")
    if isinstance(s, np.ndarray) and np.issubdtype(s.dtype, np.datetime64):
        return s.astype(f"datetime64[{unit}]")
    return pd.to_datetime(pd.Series(s), cache=False).to_numpy(dtype=f"datetime64[{unit}]")


_MIN_EVIDENCE = 20


@dataclass(frozen=True)
class Order:
    """Within one row, ``lower <= upper`` (``lower < upper`` when ``strict``); from a contract pair rule."""

    table: str
    lower: str
    upper: str
    strict: bool
    source: str

    def describe(self) -> str:
        return f"{self.table}: {self.lower} {'<' if self.strict else '<='} {self.upper} ({self.source})"


@dataclass(frozen=True)
class Bound:
    """``table.column op parent.parent_column`` for the parent row reached through ``path``.

    ``path`` is a tuple of hops ``(foreign key column, parent table, parent key column)``. ``op`` is
    ``">="`` (not before) or ``"<="`` (not after); a null on either side satisfies the bound.
    """

    table: str
    column: str
    op: str
    parent: str
    parent_column: str
    path: tuple[tuple[str, str, str], ...]
    source: str = "holds for every real row"

    def describe(self) -> str:
        words = "not before" if self.op == ">=" else "not after"
        return f"{self.table}.{self.column} {words} {self.parent}.{self.parent_column} ({self.source})"


@dataclass(frozen=True)
class ConstraintSet:
    plan: SchemaPlan
    orders: tuple[Order, ...] = ()
    bounds: tuple[Bound, ...] = ()

    def orders_of(self, table: str) -> tuple[Order, ...]:
        return tuple(o for o in self.orders if o.table == table)

    def bounds_of(self, table: str) -> tuple[Bound, ...]:
        return tuple(b for b in self.bounds if b.table == table)

    def describe(self) -> list[str]:
        out = []
        for t in self.plan.order:
            tp = self.plan.tables[t]
            for c in tp.columns:
                parts = []
                if c.required:
                    parts.append("required")
                if c.minimum is not None or c.maximum is not None:
                    parts.append(f"range [{c.minimum}, {c.maximum}]")
                if c.allowed_values is not None:
                    parts.append(f"{len(c.allowed_values)} allowed codes")
                if c.pattern:
                    parts.append(f"pattern {c.pattern}")
                if c.unique:
                    parts.append("unique")
                if parts:
                    out.append(f"{t}.{c.name}: {', '.join(parts)}")
        out += [o.describe() for o in self.orders]
        out += [b.describe() for b in self.bounds]
        return out


@dataclass
class RepairLog:
    """What :func:`repair` changed, per ``table.column`` (or ``table.rule``) and kind."""

    changed: dict[str, int] = field(default_factory=dict)
    dropped_rows: dict[str, int] = field(default_factory=dict)

    def add(self, key: str, n: int) -> None:
        if n:
            self.changed[key] = self.changed.get(key, 0) + int(n)

    def drop(self, table: str, n: int) -> None:
        if n:
            self.dropped_rows[table] = self.dropped_rows.get(table, 0) + int(n)

    @property
    def total_changed(self) -> int:
        return sum(self.changed.values())

    def to_dict(self) -> dict[str, Any]:
        return {"changed": dict(self.changed), "dropped_rows": dict(self.dropped_rows)}


# ---------------------------------------------------------------------------------------------------
# deriving


def derive_constraints(plan: SchemaPlan, data: Mapping[str, pd.DataFrame] | None = None) -> ConstraintSet:
    """The contract's orders, plus (given the real ``data``) the cross-table time bounds it never breaks."""
    orders = []
    for t in plan.order:
        contract = plan.tables[t].contract
        for rule in contract.pair_rules:
            # a row violates when LEFT op RIGHT
            if rule.op in ("<", "<="):
                lower, upper, strict = rule.right, rule.left, rule.op == "<="
            else:
                lower, upper, strict = rule.left, rule.right, rule.op == ">="
            orders.append(Order(t, lower, upper, strict, f"contract rule {rule.name}"))
    bounds: list[Bound] = []
    if data is not None:
        for t in plan.order:
            bounds += _observed_bounds(plan, t, data)
    return ConstraintSet(plan, tuple(orders), tuple(bounds))


def _paths(plan: SchemaPlan, table: str) -> list[tuple[str, tuple[tuple[str, str, str], ...]]]:
    """Every (ancestor, path) reachable through foreign keys, shortest path first, each ancestor once."""
    out: list[tuple[str, tuple[tuple[str, str, str], ...]]] = []
    seen = {table}
    frontier: list[tuple[str, tuple[tuple[str, str, str], ...]]] = [(table, ())]
    while frontier:
        nxt = []
        for t, path in frontier:
            for link in plan.tables[t].links:
                if link.parent in seen:
                    continue
                seen.add(link.parent)
                p = (*path, (link.column, link.parent, link.parent_column))
                out.append((link.parent, p))
                nxt.append((link.parent, p))
        frontier = nxt
    return out


def _observed_bounds(plan: SchemaPlan, table: str, data: Mapping[str, pd.DataFrame]) -> list[Bound]:
    tp = plan.tables[table]
    temporal = [c.name for c in tp.columns if c.temporal and c.modelled]
    if not temporal or table not in data or data[table].empty:
        return []
    out = []
    for ancestor, path in _paths(plan, table):
        if ancestor not in data:
            continue
        parent_cols = [c.name for c in plan.tables[ancestor].columns if c.temporal and c.modelled]
        if not parent_cols:
            continue
        parent_vals = follow(path, data, data[table], parent_cols)
        for c in temporal:
            child = data[table][c]
            for pc in parent_cols:
                pv = parent_vals[pc]
                both = child.notna().to_numpy() & pv.notna().to_numpy()
                if both.sum() < _MIN_EVIDENCE:
                    continue
                a, b = _comparable(
                    child[both], pv[both], _is_date(tp.column(c)), _is_date(plan.tables[ancestor].column(pc))
                )
                if bool((a >= b).all()):
                    out.append(Bound(table, c, ">=", ancestor, pc, path))
                elif bool((a <= b).all()):
                    out.append(Bound(table, c, "<=", ancestor, pc, path))
    return out


def _is_date(c: ColumnPlan) -> bool:
    return c.logical_type == "date"


def _comparable(a: pd.Series, b: pd.Series, a_date: bool, b_date: bool) -> tuple[np.ndarray, np.ndarray]:
    av = as_datetime64(a)
    bv = as_datetime64(b)
    if a_date or b_date:
        av = av.astype("datetime64[D]")
        bv = bv.astype("datetime64[D]")
    return av, bv


def follow(
    path: tuple[tuple[str, str, str], ...],
    data: Mapping[str, pd.DataFrame],
    child: pd.DataFrame,
    columns: list[str],
) -> pd.DataFrame:
    """The ``columns`` of the parent row each ``child`` row reaches through ``path`` (NaN where none)."""
    idx = np.arange(len(child))
    current = child
    valid = np.ones(len(child), dtype=bool)
    for fk, parent, key in path:
        keys = current[fk].to_numpy()[idx]
        ptable = data[parent]
        index = pd.Index(ptable[key].to_numpy())
        if not index.is_unique:
            index = pd.Index(ptable[key].drop_duplicates().to_numpy())
            ptable = ptable.drop_duplicates(subset=[key])
        pos = index.get_indexer(keys)
        valid &= pos >= 0
        idx = np.where(pos >= 0, pos, 0)
        current = ptable
    out = {}
    for c in columns:
        col = current[c]
        vals = col.iloc[idx].reset_index(drop=True) if len(current) else pd.Series([pd.NaT] * len(child))
        vals = vals.where(
            pd.Series(valid), other=pd.NaT if pd.api.types.is_datetime64_any_dtype(col) else np.nan
        )
        out[c] = vals
    return pd.DataFrame(out)


# ---------------------------------------------------------------------------------------------------
# checking


def violations(tables: Mapping[str, pd.DataFrame], constraints: ConstraintSet) -> dict[str, int]:
    """Failing rows per constraint (column rules, orders, bounds, keys); an empty dict means none."""
    plan = constraints.plan
    out: dict[str, int] = {}

    def put(key: str, n: int) -> None:
        if n:
            out[key] = out.get(key, 0) + int(n)

    for t in plan.order:
        if t not in tables:
            continue
        df = tables[t]
        tp = plan.tables[t]
        for c in tp.columns:
            bad = _column_bad(df[c.name], c) if c.name in df.columns else None
            if bad is not None:
                put(f"{t}.{c.name}", int(bad.sum()))
            if c.required and c.name in df.columns:
                put(f"{t}.{c.name}.not_null", int(df[c.name].isna().sum()))
            if c.unique and c.name in df.columns:
                s = df[c.name].dropna()
                put(f"{t}.{c.name}.unique", int(s.duplicated(keep=False).sum()))
        for link in tp.links:
            if link.parent in tables:
                s = df[link.column]
                parent_keys = tables[link.parent][link.parent_column]
                put(f"{t}.{link.column}.foreign_key", int((s.notna() & ~s.isin(parent_keys)).sum()))
        for o in constraints.orders_of(t):
            put(f"{t}.rule.{o.lower}<{o.upper}", int(_order_bad(df, o).sum()))
        for b in constraints.bounds_of(t):
            lo, hi = _bound_arrays(df, [b], tables, plan)
            put(
                f"{t}.bound.{b.column}{b.op}{b.parent}.{b.parent_column}",
                int(_outside(df[b.column], lo, hi, tp.column(b.column)).sum()),
            )
    return out


def _column_bad(s: pd.Series, c: ColumnPlan) -> np.ndarray | None:
    nn = s.notna().to_numpy()
    bad = np.zeros(len(s), dtype=bool)
    if c.minimum is not None or c.maximum is not None:
        v = _as_number(s, c)
        if c.minimum is not None:
            lo = _bound_number(c.minimum, c)
            bad |= nn & ((v <= lo) if c.exclusive_minimum else (v < lo))
        if c.maximum is not None:
            hi = _bound_number(c.maximum, c)
            bad |= nn & ((v >= hi) if c.exclusive_maximum else (v > hi))
    if c.logical_type == "string" and (
        c.allowed_values is not None or c.pattern or c.min_length or c.max_length
    ):
        # checked once per distinct value, then mapped back to the rows (codes repeat a lot)
        codes, uniques = pd.factorize(np.asarray(s, dtype=object), use_na_sentinel=True)
        u = pd.Series(uniques, dtype=object)
        strs = u.astype(str)
        ubad = np.zeros(len(u), dtype=bool)
        if c.allowed_values is not None:
            ubad |= ~u.isin(list(c.allowed_values)).to_numpy()
        if c.pattern:
            rx = re.compile(c.pattern)
            ubad |= np.array([rx.search(x) is None for x in strs], dtype=bool)
        if c.min_length is not None:
            ubad |= strs.str.len().to_numpy() < c.min_length
        if c.max_length is not None:
            ubad |= strs.str.len().to_numpy() > c.max_length
        bad |= np.where(codes >= 0, ubad[np.maximum(codes, 0)] if len(ubad) else False, False)
    return bad


def _as_number(s: pd.Series, c: ColumnPlan) -> np.ndarray:
    if c.temporal:
        return as_datetime64(s).astype("int64").astype("float64")
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _bound_number(value: Any, c: ColumnPlan) -> float:
    if c.temporal:
        return float(pd.Timestamp(value).to_datetime64().astype("datetime64[us]").astype("int64"))
    return float(value)


def _order_bad(df: pd.DataFrame, o: Order) -> np.ndarray:
    lo, hi = df[o.lower], df[o.upper]
    both = (lo.notna() & hi.notna()).to_numpy()
    a = _numeric_or_time(lo)
    b = _numeric_or_time(hi)
    with np.errstate(invalid="ignore"):
        bad = (a >= b) if o.strict else (a > b)
    return both & bad


def _numeric_or_time(s: pd.Series) -> np.ndarray:
    if pd.api.types.is_datetime64_any_dtype(s):
        return s.to_numpy(dtype="datetime64[us]").astype("int64").astype("float64")
    return pd.to_numeric(s, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)


def _bound_arrays(
    df: pd.DataFrame, bounds: list[Bound], tables: Mapping[str, pd.DataFrame], plan: SchemaPlan
) -> tuple[np.ndarray, np.ndarray]:
    """Per-row lower and upper limits (datetime64[us], NaT = none) for one column's bounds."""
    n = len(df)
    lo = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    hi = np.full(n, np.datetime64("NaT"), dtype="datetime64[us]")
    for b in bounds:
        pv = follow(b.path, tables, df, [b.parent_column])[b.parent_column]
        v = as_datetime64(pv)
        child_date = _is_date(plan.tables[b.table].column(b.column))
        parent_date = _is_date(plan.tables[b.parent].column(b.parent_column))
        if child_date or parent_date:
            day = v.astype("datetime64[D]").astype("datetime64[us]")
            if b.op == ">=":
                v = day
            else:  # not after: any time on the parent's day is allowed for a timestamp child
                v = day if child_date else day + DAY.astype("timedelta64[us]") - np.timedelta64(1, "us")
        if b.op == ">=":
            lo = np.where(np.isnat(lo) | (v > lo), v, lo)
        else:
            hi = np.where(np.isnat(hi) | (v < hi), v, hi)
    return lo, hi


def _outside(s: pd.Series, lo: np.ndarray, hi: np.ndarray, c: ColumnPlan) -> np.ndarray:
    v = as_datetime64(s)
    if _is_date(c):
        v = v.astype("datetime64[D]").astype("datetime64[us]")
    nn = ~np.isnat(v)
    bad = nn & ~np.isnat(lo) & (v < lo)
    bad |= nn & ~np.isnat(hi) & (v > hi)
    return bad


# ---------------------------------------------------------------------------------------------------
# repairing


def repair(
    tables: Mapping[str, pd.DataFrame],
    constraints: ConstraintSet,
    *,
    seed: int | None = None,
    log: RepairLog | None = None,
) -> tuple[dict[str, pd.DataFrame], RepairLog]:
    """Make synthetic ``tables`` satisfy every constraint; returns the tables and what was changed.

    Per table, parents first: required nulls are filled from the column's own valid values; codes
    that are not allowed (or break the pattern or length) are re-drawn from valid ones; numbers and
    times are clipped to the contract range and their bounds; ordered pairs are fixed by moving the
    upper value; keys are made unique; orphans are re-linked to random parents. Rows that still break
    a rule are dropped, and their children with them.
    """
    rng = np.random.default_rng(seed)
    log = log or RepairLog()
    plan = constraints.plan
    out: dict[str, pd.DataFrame] = {}
    for t in plan.order:
        if t not in tables:
            continue
        df = tables[t].copy()
        df.attrs = dict(tables[t].attrs)
        tp = plan.tables[t]
        for c in tp.columns:
            if c.name in df.columns and c.modelled:
                df[c.name] = _repair_column(df[c.name], c, rng, log, t)
        df = _repair_keys(df, tp, plan, out, rng, log)
        for _ in range(3):
            df = _repair_bounds(df, t, constraints, out, plan, log)
            df = _repair_orders(df, constraints.orders_of(t), tp, log)
        for c in tp.columns:
            if c.name in df.columns and c.modelled and (c.minimum is not None or c.maximum is not None):
                df[c.name] = _clip_range(df[c.name], c, log, t)
        # anything still broken is dropped
        bad = np.zeros(len(df), dtype=bool)
        for c in tp.columns:
            if c.name not in df.columns:
                continue
            cb = _column_bad(df[c.name], c)
            if cb is not None:
                bad |= cb
            if c.required:
                bad |= df[c.name].isna().to_numpy()
        for o in constraints.orders_of(t):
            bad |= _order_bad(df, o)
        for col in {b.column for b in constraints.bounds_of(t)}:
            bs = [b for b in constraints.bounds_of(t) if b.column == col]
            lo, hi = _bound_arrays(df, bs, {**out, t: df}, plan)
            bad |= _outside(df[col], lo, hi, tp.column(col))
        for link in tp.links:
            if link.parent in out:
                s = df[link.column]
                bad |= (s.notna() & ~s.isin(out[link.parent][link.parent_column])).to_numpy()
        if bad.any():
            log.drop(t, int(bad.sum()))
            attrs = df.attrs
            df = df.loc[~bad].reset_index(drop=True)
            df.attrs = attrs
        out[t] = df
    return out, log


def _repair_column(
    s: pd.Series, c: ColumnPlan, rng: np.random.Generator, log: RepairLog, t: str
) -> pd.Series:
    key = f"{t}.{c.name}"
    if c.role == "categorical" and c.logical_type == "string":
        bad = _column_bad(s, c)
        assert bad is not None
        fill = bad | (s.isna().to_numpy() if c.required else np.zeros(len(s), dtype=bool))
        if fill.any():
            pool = s[~fill & s.notna().to_numpy()].to_numpy()
            if len(pool) == 0 and c.allowed_values:
                pool = np.array([v for v in c.allowed_values if v is not None], dtype=object)
            if len(pool) == 0 and c.pattern:
                from hdc_toolkit.synth._regex import random_strings

                pool = random_strings(c.pattern, 64, rng).astype(object)
            if len(pool):
                s = s.astype(object).copy()
                s[fill] = pool[rng.integers(0, len(pool), size=int(fill.sum()))]
                log.add(key, int(fill.sum()))
        return s
    if c.required and s.isna().any():
        miss = s.isna().to_numpy()
        pool = s[~miss].to_numpy()
        if len(pool):
            s = s.copy()
            s[miss] = pool[rng.integers(0, len(pool), size=int(miss.sum()))]
            log.add(key, int(miss.sum()))
    if c.role in ("numerical", "datetime") and (c.minimum is not None or c.maximum is not None):
        s = _clip_range(s, c, log, t)
    if c.logical_type == "integer" and c.role == "numerical":
        v = pd.to_numeric(s, errors="coerce")
        frac = v.notna() & (v != np.round(v))
        if frac.any():
            s = v.round()
            log.add(key, int(frac.sum()))
    return s


def _clip_range(s: pd.Series, c: ColumnPlan, log: RepairLog, t: str) -> pd.Series:
    if c.temporal:
        v = pd.to_datetime(s)
        lo = pd.Timestamp(c.minimum) if c.minimum is not None else None
        hi = pd.Timestamp(c.maximum) if c.maximum is not None else None
        if hi is not None and c.logical_type == "date":
            hi = hi.normalize()
        if c.exclusive_minimum and lo is not None:
            lo = lo + (pd.Timedelta(days=1) if c.logical_type == "date" else pd.Timedelta(microseconds=1))
        if c.exclusive_maximum and hi is not None:
            hi = hi - (pd.Timedelta(days=1) if c.logical_type == "date" else pd.Timedelta(microseconds=1))
        clipped = v.clip(lower=lo, upper=hi)
    else:
        v = pd.to_numeric(s, errors="coerce")
        lo = c.minimum
        hi = c.maximum
        step = 1 if c.logical_type == "integer" else 1e-9 * max(1.0, abs(float(lo or hi or 1)))
        if c.exclusive_minimum and lo is not None:
            lo = lo + step
        if c.exclusive_maximum and hi is not None:
            hi = hi - step
        clipped = v.clip(lower=lo, upper=hi)
    changed = int((clipped.notna() & (clipped != v)).sum())
    log.add(f"{t}.{c.name}", changed)
    return clipped if changed else s


def _repair_keys(
    df: pd.DataFrame,
    tp: TablePlan,
    plan: SchemaPlan,
    done: Mapping[str, pd.DataFrame],
    rng: np.random.Generator,
    log: RepairLog,
) -> pd.DataFrame:
    from hdc_toolkit.synth._regex import unique_random_strings

    for c in tp.columns:
        if c.role in ("key", "identifier") and c.unique and c.name in df.columns:
            s = df[c.name]
            dup = s.duplicated(keep="first") | (s.isna() if c.required else False)
            if dup.any():
                n = int(dup.sum())
                if c.logical_type == "integer":
                    start = int(pd.to_numeric(s, errors="coerce").max() or 0) + 1
                    df.loc[dup, c.name] = np.arange(start, start + n)
                elif c.pattern:
                    df.loc[dup, c.name] = unique_random_strings(
                        c.pattern, n, rng, avoid=s[~dup].astype(str).to_numpy()
                    )
                log.add(f"{tp.name}.{c.name}.unique", n)
    for link in tp.links:
        if link.parent not in done or link.column not in df.columns:
            continue
        parent_keys = done[link.parent][link.parent_column].to_numpy()
        s = df[link.column]
        orphan = (s.notna() & ~s.isin(parent_keys)).to_numpy()
        if link.required:
            orphan |= s.isna().to_numpy()
        if orphan.any() and len(parent_keys):
            if link.required:
                df.loc[orphan, link.column] = parent_keys[
                    rng.integers(0, len(parent_keys), size=int(orphan.sum()))
                ]
            else:
                df.loc[orphan, link.column] = None
            log.add(f"{tp.name}.{link.column}.foreign_key", int(orphan.sum()))
    # derived links: the value the primary parent chain gives
    for link in tp.links:
        if link.kind == "derived":
            path = primary_path(plan, tp.name, link.parent)
            if path is None or not all(hop[1] in done for hop in path):
                continue
            vals = follow(path, done, df, [link.parent_column])[link.parent_column]
            cur = df[link.column].reset_index(drop=True)
            differs = (vals.notna() & (cur.astype(object) != vals.astype(object))).to_numpy()
            if differs.any():
                df[link.column] = np.where(differs, vals.to_numpy(dtype=object), cur.to_numpy(dtype=object))
                log.add(f"{tp.name}.{link.column}.derived", int(differs.sum()))
    return df


def primary_path(plan: SchemaPlan, table: str, target: str) -> tuple[tuple[str, str, str], ...] | None:
    """Hops from ``table`` along primary parents up to ``target`` (None when the chain does not reach it)."""
    hops = []
    current = table
    while True:
        link = plan.tables[current].primary_link
        if link is None:
            return None
        hops.append((link.column, link.parent, link.parent_column))
        if link.parent == target:
            return tuple(hops)
        current = link.parent
        if len(hops) > len(plan.order):
            return None


def _repair_bounds(
    df: pd.DataFrame,
    t: str,
    constraints: ConstraintSet,
    done: Mapping[str, pd.DataFrame],
    plan: SchemaPlan,
    log: RepairLog,
) -> pd.DataFrame:
    bounds = constraints.bounds_of(t)
    if not bounds:
        return df
    tables = dict(done)
    by_col: dict[str, list[Bound]] = {}
    for b in bounds:
        if all(hop[1] in tables for hop in b.path):
            by_col.setdefault(b.column, []).append(b)
    for col, bs in by_col.items():
        lo, hi = _bound_arrays(df, bs, tables, plan)
        c = plan.tables[bs[0].table].column(col)
        v = as_datetime64(df[col])
        if _is_date(c):
            v = v.astype("datetime64[D]").astype("datetime64[us]")
        nn = ~np.isnat(v)
        below = nn & ~np.isnat(lo) & (v < lo)
        above = nn & ~np.isnat(hi) & (v > hi)
        if below.any() or above.any():
            new = np.where(below, lo, v)
            new = np.where(above, hi, new)
            new = _align(new, below, above, c)
            df[col] = pd.Series(new, index=df.index).astype(
                df[col].dtype if pd.api.types.is_datetime64_any_dtype(df[col]) else "datetime64[us]"
            )
            log.add(f"{bs[0].table}.{col}.bound", int(below.sum() + above.sum()))
    return df


def _align(values: np.ndarray, raised: np.ndarray, lowered: np.ndarray, c: ColumnPlan) -> np.ndarray:
    """Clipped timestamps on whole minutes: raised ones rounded up, lowered ones down."""
    if c.logical_type == "date":
        return values
    unit = np.timedelta64(60_000_000, "us")
    ints = values.astype("int64")
    u = unit.astype("int64")
    up = np.where(raised, -(-ints // u) * u, ints)
    down = np.where(lowered, (ints // u) * u, up)
    out = down.astype("datetime64[us]")
    out[np.isnat(values)] = np.datetime64("NaT")
    return out


def _repair_orders(
    df: pd.DataFrame, orders: tuple[Order, ...], tp: TablePlan, log: RepairLog
) -> pd.DataFrame:
    for o in orders:
        bad = _order_bad(df, o)
        if not bad.any():
            continue
        lower = df[o.lower]
        if pd.api.types.is_datetime64_any_dtype(lower):
            step = (
                pd.Timedelta(days=1) if tp.column(o.upper).logical_type == "date" else pd.Timedelta(minutes=1)
            )
        else:
            step = 1 if tp.column(o.upper).logical_type == "integer" else 1e-6
        new = lower[bad] + (step if o.strict else 0 * step)
        df.loc[bad, o.upper] = new.to_numpy()
        log.add(f"{tp.name}.rule.{o.lower}<{o.upper}", int(bad.sum()))
    return df


# ---------------------------------------------------------------------------------------------------
# the foundation validator


def validate_synthetic(
    tables: Mapping[str, pd.DataFrame],
    contracts: Mapping[str, Contract],
    *,
    directory: str | os.PathLike[str] | None = None,
) -> dict[str, Any]:
    """Write ``tables`` as Parquet with their contracts' schemas and run the foundation validator.

    Returns ``{table: Run}``. ``directory`` keeps the files (else a temporary directory is used and
    removed).
    """
    from hdc_toolkit.contracts.validate import validate_extract
    from hdc_toolkit.synth._frames import write_tables

    if directory is not None:
        write_tables(tables, contracts, directory)
        return validate_extract({t: contracts[t] for t in tables}, Path(directory))
    with tempfile.TemporaryDirectory(prefix="hdc-synth-") as tmp:
        write_tables(tables, contracts, tmp)
        return validate_extract({t: contracts[t] for t in tables}, Path(tmp))
