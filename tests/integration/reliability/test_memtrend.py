"""The soak's growth verdict (memtrend.py) on synthetic RSS series: a steady leak is growth,
start-up growth in the first half and a late one-off step are not."""

from __future__ import annotations

import numpy as np
import pytest

from tests.integration.reliability.memtrend import ols, summarise, theil_sen

T = [5.0 * i for i in range(120)]  # 10 minutes sampled every 5 s


def test_theil_sen_recovers_a_line_and_ignores_outliers() -> None:
    y = [3.0 + 0.5 * t for t in T]
    assert theil_sen(T, y) == pytest.approx(0.5)
    y[10] = y[70] = 1e6  # two wild samples
    assert theil_sen(T, y) == pytest.approx(0.5)
    assert ols(T, [1.0] * len(T)) == pytest.approx(0.0, abs=1e-12)
    assert theil_sen([1.0], [2.0]) == 0.0


def test_steady_leak_is_growth() -> None:
    # 80 MiB process leaking 6 MiB/h: just over its limit (2 + 2% of 80 = 3.6 MiB/h)
    m = summarise(T, [80 + 6 * t / 3600 for t in T])
    assert m["grows"] and m["slope_mib_per_h"] == pytest.approx(6.0, abs=0.01), m
    assert m["threshold_mib_per_h"] == pytest.approx(3.6, abs=0.05)


def test_flat_with_noise_and_start_up_is_not_growth() -> None:
    rng = np.random.default_rng(1)
    warm = [60 + min(t, 120) / 10 for t in T]  # +12 MiB in the first two minutes, then flat
    noisy = [w + float(rng.normal(0, 0.2)) for w in warm]
    m = summarise(T, noisy)
    assert not m["grows"], m
    assert (m["start_mib"], m["end_mib"]) == (pytest.approx(60.5, abs=1), pytest.approx(72, abs=1))


def test_late_one_off_step_is_not_growth_but_a_ramp_is() -> None:
    step = [70.0 if t < 500 else 72.0 for t in T]  # one 2 MiB arena late in the run
    assert not summarise(T, step)["grows"]
    assert summarise(T, [70 + t / 300 for t in T])["grows"]  # 12 MiB/h


def test_no_samples_is_an_error() -> None:
    with pytest.raises(ValueError):
        summarise([], [])
