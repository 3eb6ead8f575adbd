"""Privacy accounting: the RDP of DP-SGD agrees with Opacus, composition beats the naive sum, refusals."""

from __future__ import annotations

import itertools
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hdc_toolkit.privacy.accounting import (
    ZCDP,
    ApproxDP,
    InvalidPrivacyParameter,
    SubsampledGaussian,
    calibrate_noise,
    compose,
    default_delta,
    mechanism_from_dict,
    rdp_curve,
    validate_epsilon_delta,
)

CASES = [(1.1, 256 / 5000, 400), (3.75, 0.046, 430), (0.9, 0.01, 2000), (2.0, 1.0, 10), (5.0, 0.3, 7)]


class TestAgainstOpacus:
    @pytest.mark.parametrize(("sigma", "q", "steps"), CASES)
    def test_epsilon_matches_opacus_rdp_accountant(self, sigma, q, steps):
        """The ledger's own RDP (no torch) gives Opacus' ε to 1e-9."""
        from opacus.accountants import RDPAccountant

        acc = RDPAccountant()
        acc.history = [(sigma, q, steps)]
        expected = acc.get_epsilon(delta=1e-5)
        got = compose([SubsampledGaussian(sigma, q, steps)], 1e-5).epsilon
        assert got == pytest.approx(expected, rel=1e-9)

    def test_composition_of_different_runs_matches_opacus(self):
        from opacus.accountants import RDPAccountant

        acc = RDPAccountant()
        acc.history = [(s, q, t) for s, q, t in CASES[:3]]
        got = compose([SubsampledGaussian(*c) for c in CASES[:3]], 1e-6).epsilon
        assert got == pytest.approx(acc.get_epsilon(delta=1e-6), rel=1e-9)

    @pytest.mark.filterwarnings("ignore:Optimal order is the largest alpha")
    def test_calibration_matches_make_private_with_epsilon(self):
        """The same σ Opacus' get_noise_multiplier (used by make_private_with_epsilon) finds."""
        from opacus.accountants.utils import get_noise_multiplier

        for eps in (1.0, 3.0, 8.0):
            ours = calibrate_noise(eps, 1e-5, sample_rate=0.046, steps=430)
            theirs = get_noise_multiplier(target_epsilon=eps, target_delta=1e-5, sample_rate=0.046, steps=430)
            assert ours == pytest.approx(theirs, rel=1e-12)


class TestComposition:
    def test_repeated_runs_compose_below_the_naive_sum(self):
        run = SubsampledGaussian(calibrate_noise(1.0, 1e-6, sample_rate=0.1, steps=50), 0.1, 50)
        total = compose([(run, 1.0, 1e-6)] * 5, 5e-6)
        assert total.naive_epsilon == pytest.approx(5.0)
        assert total.epsilon < 0.6 * total.naive_epsilon
        assert total.bound == total.epsilon
        assert total.saving > 2

    def test_one_run_at_its_own_delta_is_its_epsilon(self):
        run = SubsampledGaussian(calibrate_noise(2.0, 1e-6, sample_rate=0.05, steps=200), 0.05, 200)
        assert compose([run], 1e-6).epsilon == pytest.approx(2.0, abs=0.011)

    def test_zcdp_curve_is_linear(self):
        assert list(ZCDP(0.1).rdp()[:3]) == pytest.approx([0.11, 0.12, 0.13])

    def test_pure_dp_enters_the_curve_and_black_boxes_add(self):
        few = compose([ApproxDP(0.5, 0.0)] * 4, 1e-6)
        assert few.bound == few.naive_epsilon == pytest.approx(2.0)  # RDP is worse for few pure runs
        many = compose([ApproxDP(0.05, 0.0)] * 100, 1e-6)
        assert many.bound == many.epsilon < 0.6 * many.naive_epsilon
        mixed = compose([ApproxDP(1.0, 1e-7), ZCDP(0.05)], 1e-6)
        alone = compose([ZCDP(0.05)], 1e-6 - 1e-7)
        assert mixed.epsilon == pytest.approx(alone.epsilon + 1.0)

    def test_naive_bound_used_when_tighter_and_valid(self):
        # a pure-DP run: the naive ε is exact while the RDP conversion loses a little
        total = compose([(ApproxDP(0.1, 0.0), 0.1, 0.0)], 1e-6)
        assert total.bound == pytest.approx(0.1)

    def test_empty_composition_is_zero(self):
        assert compose([], 1e-6).bound == 0.0

    def test_stored_curves_give_the_same_result(self):
        run = SubsampledGaussian(1.3, 0.02, 300)
        fresh = compose([(run, 1.0, 1e-7)], 1e-6)
        stored = compose([(run, 1.0, 1e-7, rdp_curve(run))], 1e-6)
        assert stored == fresh

    @settings(max_examples=25, deadline=None, derandomize=True)
    @given(st.lists(st.floats(0.001, 0.5), min_size=1, max_size=6))
    def test_total_never_decreases_as_runs_are_added(self, rhos):
        totals = [compose([ZCDP(r) for r in rhos[:k]], 1e-6).bound for k in range(1, len(rhos) + 1)]
        assert all(b >= a - 1e-12 for a, b in itertools.pairwise(totals))

    def test_mechanism_round_trip(self):
        for m in (SubsampledGaussian(1.0, 0.1, 5), ZCDP(0.2), ApproxDP(1.0, 1e-7)):
            assert mechanism_from_dict(m.to_dict()) == m


class TestRefusals:
    @pytest.mark.parametrize("eps", [0, -1.0, math.nan, math.inf])
    def test_epsilon_must_be_positive_and_finite(self, eps):
        with pytest.raises(InvalidPrivacyParameter, match="epsilon must be"):
            validate_epsilon_delta(eps, 1e-6)

    def test_delta_at_or_above_one_over_n_is_refused(self):
        with pytest.raises(InvalidPrivacyParameter, match="not below 1/n"):
            validate_epsilon_delta(1.0, 0.01, n_rows=100)
        validate_epsilon_delta(1.0, 0.0099, n_rows=100)

    def test_default_delta(self):
        assert default_delta(1000) == 1e-5 / 1  # min(1e-5, 1e-4)
        assert default_delta(1_000_000) == pytest.approx(1e-7)
        assert default_delta(1000, cap=1e-6) == 1e-6
        with pytest.raises(InvalidPrivacyParameter, match="nothing to train on"):
            default_delta(0)

    def test_bad_mechanisms(self):
        with pytest.raises(InvalidPrivacyParameter):
            SubsampledGaussian(0.0, 0.1, 10)
        with pytest.raises(InvalidPrivacyParameter):
            SubsampledGaussian(1.0, 0.0, 10)
        with pytest.raises(InvalidPrivacyParameter):
            ZCDP(-1.0)

    def test_unreachable_epsilon_is_explained(self):
        with pytest.raises(InvalidPrivacyParameter, match="too small"):
            calibrate_noise(1e-9, 1e-6, sample_rate=1.0, steps=10_000)
