"""Boundary tests for every disclosure-control rule: just below, at and just above each threshold.

Each table row reads as the rule's specification; the profile rows check that the three built-in
profiles carry the published numbers (ACRO v1.0.1 defaults, OpenSAFELY ≤7/5, NHS England <10/5).
"""

from __future__ import annotations

import math

import pandas as pd
import pytest

from hdc_toolkit.exceptions import NotFoundError
from hdc_toolkit.outputs import mitigate, rules
from hdc_toolkit.outputs.profiles import ACRO_DEFAULT, NHS_SDE, OPENSAFELY, PROFILES, Profile, get_profile


class TestMinimumCount:
    """A positive count below the threshold fails; zero is the zeros rule's business."""

    @pytest.mark.parametrize(
        ("count", "threshold", "fails"),
        [
            (9, 10, True),  # just below (ACRO, NHS)
            (10, 10, False),  # at
            (11, 10, False),  # just above
            (7, 8, True),  # OpenSAFELY: 7 is redacted ...
            (8, 8, False),  # ... 8 is not
            (9, 8, False),
            (1, 10, True),
            (0, 10, False),  # zeros are judged by the zeros rule
        ],
    )
    def test_boundaries(self, count: int, threshold: int, fails: bool) -> None:
        assert rules.below_threshold(count, threshold) is fails

    @pytest.mark.parametrize(
        ("profile", "below", "at", "above"),
        [(ACRO_DEFAULT, 9, 10, 11), (OPENSAFELY, 7, 8, 9), (NHS_SDE, 9, 10, 11)],
        ids=lambda p: p.name if isinstance(p, Profile) else str(p),
    )
    def test_profile_thresholds(self, profile: Profile, below: int, at: int, above: int) -> None:
        assert rules.below_threshold(below, profile.threshold)
        assert not rules.below_threshold(at, profile.threshold)
        assert not rules.below_threshold(above, profile.threshold)


class TestZeros:
    @pytest.mark.parametrize(
        ("count", "disclosive", "fails"),
        [(0, True, True), (0, False, False), (1, True, False), (-0.0, True, True)],
    )
    def test_zeros(self, count: float, disclosive: bool, fails: bool) -> None:
        assert rules.disclosive_zero(count, disclosive) is fails

    def test_profiles(self) -> None:
        assert ACRO_DEFAULT.zeros_disclosive and not OPENSAFELY.zeros_disclosive
        assert not NHS_SDE.zeros_disclosive


class TestNKDominance:
    """Top n = 2 contributors with at least k = 0.9 of the cell total fail."""

    @pytest.mark.parametrize(
        ("contributions", "fails"),
        [
            ([45, 44, 11], False),  # 0.89: just below
            ([45, 45, 10], True),  # 0.90: at
            ([46, 45, 9], True),  # 0.91: just above
            ([14, 13, 3], True),  # 27/30 = 0.9 exactly, where 0.9 * 30 > 27 in floating point
            ([14, 12, 4], False),
            ([100], True),  # one contributor: 100 %
            ([0, 0], False),  # empty total: nothing to dominate
            ([-50, -45, -5], True),  # absolute values
        ],
    )
    def test_boundaries(self, contributions: list[float], fails: bool) -> None:
        assert rules.nk_dominated(contributions, rules.ACRO_NK_N, rules.ACRO_NK_K) is fails

    def test_top_n(self) -> None:
        assert rules.top_n([3, -7, 5], 2) == [7.0, 5.0]


class TestPPercent:
    """(total - top1 - top2) < p * top1 fails, p = 0.1."""

    @pytest.mark.parametrize(
        ("contributions", "fails"),
        [
            ([100, 50, 9], True),  # rest 9 < 10: just below
            ([100, 50, 10], False),  # rest 10 = 10: at
            ([100, 50, 11], False),  # just above
            ([100, 50, 5, 5], False),  # rest summed over several contributors
            ([100, 50], True),  # nothing beyond the top two
            ([100], True),
            ([0, 0, 0], False),
        ],
    )
    def test_boundaries(self, contributions: list[float], fails: bool) -> None:
        assert rules.p_percent_fails(contributions, rules.ACRO_P_RATIO) is fails


class TestDegreesOfFreedom:
    @pytest.mark.parametrize(("dof", "fails"), [(9, True), (10, False), (11, False), (9.5, True)])
    def test_boundaries(self, dof: float, fails: bool) -> None:
        assert rules.dof_too_low(dof, rules.ACRO_DOF_THRESHOLD) is fails


class TestRounding:
    @pytest.mark.parametrize(
        ("value", "base", "rounded"),
        [
            (7, 5, 5),
            (8, 5, 10),
            (12, 5, 10),
            (13, 5, 15),
            (0, 5, 0),
            (15, 10, 20),  # ACRO rounds half to even: 1.5 -> 2
            (25, 10, 20),  # 2.5 -> 2
        ],
    )
    def test_round_to_base(self, value: float, base: int, rounded: float) -> None:
        assert rules.round_to_base(value, base) == rounded

    def test_missing_stays_missing(self) -> None:
        assert math.isnan(rules.round_to_base(float("nan"), 5))

    @pytest.mark.parametrize(
        ("count", "published"),
        [(0, 0), (6, 0), (7, 0), (8, 10), (9, 10), (12, 10), (13, 15), (100, 100)],
    )
    def test_opensafely_redact_and_round(self, count: int, published: int) -> None:
        """ehrQL's table: 6 -> 0, 7 -> 0, 8 -> 10."""
        assert rules.redact_and_round(
            count, rules.OPENSAFELY_REDACT_AT_OR_BELOW, rules.OPENSAFELY_ROUND_BASE
        ) == (published)


class TestMitigation:
    """Suppression and rounding as each profile applies them, with margins recomputed."""

    @pytest.mark.parametrize(
        ("profile", "counts", "published"),
        [
            (ACRO_DEFAULT, [9, 10, 11], [None, 10, 11]),
            (OPENSAFELY, [7, 8, 9], [None, 10, 10]),
            (NHS_SDE, [9, 10, 11], [None, 10, 10]),
            (ACRO_DEFAULT, [0, 12, 30], [None, 12, 30]),  # zeros disclosive
            (OPENSAFELY, [0, 12, 30], [0, 10, 30]),  # zeros retained
        ],
        ids=["acro", "opensafely", "nhs", "acro-zero", "opensafely-zero"],
    )
    def test_published_cells(self, profile: Profile, counts: list[int], published: list[int | None]) -> None:
        inner = pd.DataFrame({"count": counts}, dtype="float64")
        masks = mitigate.count_rule_masks(inner, profile)
        masks.pop(mitigate.RULE_ROUNDING, None)
        mask = masks[rules.RULE_THRESHOLD] | masks[rules.RULE_ZERO]
        table, _ = mitigate.mitigate_counts(inner, mask, profile, margins=False, column_margin=False)
        got = [None if math.isnan(v) else v for v in table["count"]]
        assert got == published

    def test_margins_are_recomputed_from_published_cells(self) -> None:
        inner = pd.DataFrame({"F": [3.0, 40.0], "M": [20.0, 50.0]}, index=["a", "b"])
        mask = inner < 10
        table, done = mitigate.mitigate_counts(inner, mask, ACRO_DEFAULT, margins=True, column_margin=True)
        assert table.loc["a", "Total"] == 20  # not 23: the suppressed 3 cannot be recovered
        assert table.loc["Total", "F"] == 40
        assert table.loc["Total", "Total"] == 110
        assert "margins recomputed from the published cells" in done

    def test_fully_suppressed_row_has_a_missing_total(self) -> None:
        inner = pd.DataFrame({"F": [3.0], "M": [4.0]}, index=["a"])
        table, _ = mitigate.mitigate_counts(inner, inner < 10, ACRO_DEFAULT, margins=True, column_margin=True)
        assert math.isnan(table.loc["a", "Total"])

    def test_rounding_rule_on_published_counts(self) -> None:
        table = pd.DataFrame({"n": [10.0, 12.0, float("nan")]})
        mask = mitigate.count_rule_masks(table, OPENSAFELY)[mitigate.RULE_ROUNDING]
        assert mask["n"].tolist() == [False, True, False]


class TestProfiles:
    def test_acro_defaults(self) -> None:
        p = ACRO_DEFAULT
        assert (p.threshold, p.nk_n, p.nk_k, p.p_ratio, p.min_dof) == (10, 2, 0.9, 0.1, 10)

    def test_opensafely_and_nhs_round_to_five_without_dominance(self) -> None:
        for p in (OPENSAFELY, NHS_SDE):
            assert p.round_base == 5 and "round" in p.mitigation
            assert not p.uses_dominance
            assert set(p.rules_not_applied()) >= {rules.RULE_NK, rules.RULE_P_PERCENT}

    def test_profiles_match_the_permit_vocabulary(self) -> None:
        from hdc_toolkit.projects.vocabularies import RISK_PROFILES

        assert set(PROFILES) == set(RISK_PROFILES)

    def test_lookup(self) -> None:
        assert get_profile(None) is ACRO_DEFAULT
        assert get_profile("nhs-sde") is NHS_SDE
        assert get_profile(OPENSAFELY) is OPENSAFELY
        with pytest.raises(NotFoundError, match="unknown risk profile"):
            get_profile("lenient")

    def test_hash_changes_with_any_setting(self) -> None:
        from dataclasses import replace

        assert replace(ACRO_DEFAULT, threshold=11).sha256 != ACRO_DEFAULT.sha256
        assert len(ACRO_DEFAULT.sha256) == 64

    def test_invalid_profiles_are_refused(self) -> None:
        with pytest.raises(ValueError, match="round_base"):
            Profile("x", 1, "", threshold=10, zeros_disclosive=True, mitigation=("round",))
        with pytest.raises(ValueError, match="unknown"):
            Profile("x", 1, "", threshold=10, zeros_disclosive=True, mitigation=("blur",))
        with pytest.raises(ValueError, match="nk_n and nk_k"):
            Profile("x", 1, "", threshold=10, zeros_disclosive=True, nk_n=2)
