"""Running baseline rates equal the direct computation on every prefix."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from bitgaram.optimize.weights import RunningBaselineRates, baseline_rates


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n=st.integers(1, 400),
    block=st.integers(1, 120),
    frac=st.floats(0.0, 1.0),
)
def test_running_rates_match_direct_rates(seed: int, n: int, block: int, frac: float) -> None:
    rng = np.random.default_rng(seed)
    net = rng.normal(0.5, 2.0, (n, 3))
    price = rng.uniform(-0.1, 0.5, n)
    carbon = rng.uniform(0.0, 0.6, n)
    running = RunningBaselineRates(net, price, carbon, block)
    t = max(1, round(frac * n))
    got = running.at(t)
    want = baseline_rates(net[:t], price[:t], carbon[:t], block)
    np.testing.assert_allclose(
        [got.cost, got.emissions, got.ramping, got.load_factor],
        [want.cost, want.emissions, want.ramping, want.load_factor],
        rtol=1e-9,
        atol=1e-12,
    )


def test_running_rates_use_only_the_prefix() -> None:
    rng = np.random.default_rng(1)
    net = rng.normal(1.0, 1.0, (300, 2))
    price, carbon = np.full(300, 0.2), np.full(300, 0.4)
    changed = net.copy()
    changed[150:] *= 10.0
    a = RunningBaselineRates(net, price, carbon, 100).at(150)
    b = RunningBaselineRates(changed, price, carbon, 100).at(150)
    assert a == b
