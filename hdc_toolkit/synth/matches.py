"""Exact copies of rare records, judged against fresh real people: the release gate's exact-match test.

**What is measured.** A synthetic row equal to a record that fewer than ``k`` real rows share (``k``:
the risk profile's smallest safe count) could single someone out; a row equal to a common combination
(a frequent diagnosis code, type and month) discloses no one, and in a low-dimensional coarsened table
most rows, synthetic or fresh real, equal some training row anyway (the demo's diagnoses: 55-60%).
So only matches to *rare* records count, and the question is whose records they are:

* the real data are the training rows and the holdout rows together (the pool); a record is rare
  when it occurs 1..k-1 times in the pool;
* ``rare_rows``: the share of synthetic rows equal to a rare real record;
* ``training_share``: over those synthetic rows, the mean share of training rows among the real rows
  they equal (``c_train / c_pool`` of the record);
* a synthesizer that did not memorise cannot tell training from holdout people, so that share is
  what chance gives (``expected_share``, about training's share of the real rows); a copier's rare
  matches are its own training rows (share → 1).

**The test** is a one-sided permutation test: the people (a root row with all its child rows, which
are alike and move together) are re-split at random into groups as large as training and holdout,
``permutations`` times; ``expected_share`` and ``null_sd`` are the mean and spread of
``training_share`` over those splits, ``z`` the observed excess over the spread and ``p_value`` its
normal tail. ``excess`` estimates the share of all synthetic rows that copy a rare training record
beyond chance, ``(training_share - expected) / (1 - expected) × rare_rows``. The gate refuses when
``p_value < alpha`` *and* ``excess`` is at least a minimum effect size. Nothing is subsampled, so a
copier is caught even when the holdout is small (with a holdout a quarter of training, comparing
against an equally large training sample saw only a quarter of the copies).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import ndtr

__all__ = ["RareMatchTest", "person_keys", "rare_record_matches"]


@dataclass
class RareMatchTest:
    k: int
    rare_rows: float  # share of synthetic rows equal to a real record seen fewer than k times
    training_share: float  # mean share of training rows among the real rows those synthetic rows equal
    expected_share: float  # the same over random re-splits of the people (no memorisation)
    excess: float  # estimated share of all synthetic rows copying a rare training record beyond chance
    null_sd: float
    z: float
    p_value: float
    people: dict[str, int]
    permutations: int

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def person_keys(frames: Mapping[str, pd.DataFrame], plan: Any) -> dict[str, np.ndarray]:
    """For every row of every table, an integer naming its person: the root row it descends from.

    Follows each table's primary link up to a table without one (whose rows are their own people);
    a row whose parent is missing is a person of its own.
    """
    out: dict[str, np.ndarray] = {}
    orphans = 0  # negative keys, unique over all tables
    for t in plan.order:
        if t not in frames:
            continue
        df = frames[t]
        link = plan.tables[t].primary_link
        if (link is None or link.parent not in out or link.column not in df.columns
                or link.parent_column not in frames[link.parent].columns):  # fmt: skip
            out[t] = np.arange(len(df), dtype=np.int64)
            continue
        parent = frames[link.parent]
        keys = pd.Series(out[link.parent], index=parent[link.parent_column].to_numpy())
        keys = keys[~keys.index.duplicated()]
        g = pd.Series(df[link.column].to_numpy()).map(keys)
        missing = g.isna().to_numpy()
        g = g.fillna(-1).to_numpy().astype(np.int64)
        g[missing] = -1 - orphans - np.arange(int(missing.sum()))
        orphans += int(missing.sum())
        out[t] = g
    return out


def rare_record_matches(
    train_hashes: np.ndarray,
    synthetic_hashes: np.ndarray,
    holdout_hashes: np.ndarray,
    *,
    k: int,
    train_groups: Sequence[int] | np.ndarray | None = None,
    holdout_groups: Sequence[int] | np.ndarray | None = None,
    permutations: int = 200,
    seed: int = 0,
) -> RareMatchTest:
    """The test of the module docstring over row hashes (one value per row, equal rows equal hashes).

    ``*_groups``: the person of each training / holdout row (``person_keys``); None: each row is one.
    ``k`` below 2 is taken as 2 (records seen once are always rare).
    """
    rng = np.random.default_rng(seed)
    k = max(int(k), 2)

    def people(h: np.ndarray, g: Any) -> np.ndarray:
        return np.unique(np.arange(len(h)) if g is None else np.asarray(g), return_inverse=True)[1].ravel()

    gt, gh = people(train_hashes, train_groups), people(holdout_hashes, holdout_groups)
    n_t, n_h = (int(g.max()) + 1 if len(g) else 0 for g in (gt, gh))
    nan = float("nan")
    if n_t == 0 or n_h == 0 or len(synthetic_hashes) == 0:
        return RareMatchTest(k, nan, nan, nan, nan, nan, nan, nan, {"training": n_t, "holdout": n_h}, 0)
    codes, uniq = pd.factorize(np.concatenate([np.asarray(train_hashes), np.asarray(holdout_hashes)]))
    person = np.concatenate([gt, gh + n_t])
    pooled = np.bincount(codes, minlength=len(uniq))
    at = pd.Index(uniq).get_indexer(np.asarray(synthetic_hashes))
    hits = np.bincount(at[at >= 0], minlength=len(uniq)).astype("float64")
    rare = (pooled > 0) & (pooled < k)
    matched = float(hits[rare].sum())
    weight = np.where(rare, hits, 0.0) / np.maximum(pooled, 1) / max(matched, 1.0)

    def share(is_train: np.ndarray) -> float:
        return float(
            weight @ np.bincount(codes, weights=is_train[person].astype("float64"), minlength=len(uniq))
        )

    label = np.zeros(n_t + n_h, dtype=bool)
    label[:n_t] = True
    observed = share(label)
    null = np.array([share(rng.permutation(label)) for _ in range(permutations)]) if matched else np.zeros(1)
    mu, sd = float(null.mean()), float(null.std())
    z = (observed - mu) / sd if sd > 0 else 0.0
    copies = (observed - mu) / (1.0 - mu) if mu < 1 else 0.0
    return RareMatchTest(k=k, rare_rows=matched / len(synthetic_hashes), training_share=observed if matched else nan,
                         expected_share=mu if matched else nan, excess=float(np.clip(copies * matched / len(synthetic_hashes), -1, 1)),
                         null_sd=sd, z=float(z), p_value=float(ndtr(-z)) if sd > 0 else 1.0, people={"training": n_t, "holdout": n_h},
                         permutations=permutations if matched else 0)  # fmt: skip
