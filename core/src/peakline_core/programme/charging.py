"""Carbon-aware charging plans for deferrable loads (EV chargers), vectorized over chargers.

Each charger needs `need_kwh` before it leaves; in the slots it is available it may draw up to
`max_kw`. The plan fills the cleanest available slots first (lowest grid intensity), so the
same energy is delivered with the least emissions; the result is a power per slot that the
control path writes as a current limit (kW / (phases * V) A).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

F64 = npt.NDArray[np.float64]
BOOL = npt.NDArray[np.bool_]


def carbon_aware_plan(
    need_kwh: F64, max_kw: F64, available: BOOL, intensity_g_per_kwh: F64, step_h: float
) -> F64:
    """kW per charger and slot [S, T]: `need_kwh` [S], `max_kw` [S], `available` [S, T],
    `intensity_g_per_kwh` [T] (forecast), slots of `step_h` hours. Ties keep time order.
    A charger that cannot get its energy in its available slots gets every one at max_kw."""
    need = np.asarray(need_kwh, dtype=np.float64)
    cap = np.asarray(max_kw, dtype=np.float64)[:, None] * step_h  # kWh per slot
    avail = np.asarray(available, dtype=bool)
    order = np.argsort(np.asarray(intensity_g_per_kwh, dtype=np.float64), kind="stable")
    per_slot = np.where(avail[:, order], cap, 0.0)  # [S, T] in cleanest-first order
    before = np.cumsum(per_slot, axis=1) - per_slot
    take = np.clip(need[:, None] - before, 0.0, per_slot)
    plan = np.empty_like(take)
    plan[:, order] = take
    out: F64 = plan / step_h
    return out


def emissions_kg(plan_kw: F64, intensity_g_per_kwh: F64, step_h: float) -> F64:
    """kgCO2e per charger [S] of a plan [S, T] under the intensity [T]."""
    out: F64 = (np.asarray(plan_kw) * step_h * np.asarray(intensity_g_per_kwh)[None, :]).sum(
        axis=1
    ) / 1000.0
    return out
