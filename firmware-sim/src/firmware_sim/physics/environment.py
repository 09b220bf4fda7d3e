"""What every device shares: local time, weather (outdoor temperature, clear-sky irradiance,
clouds), grid frequency and building occupancy schedules. All functions of time only."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from firmware_sim.physics.noise import F64, smooth, uniform
from firmware_sim.scenario import Scenario

DISTRICT_SEED_SALT = 0x5EED


@dataclass(frozen=True, slots=True)
class Env:
    """Shared conditions at K time steps in P places (`Scenario.all_places`; row 0 is the
    scenario's own): a device reads the row of its place (`Fleet.place`)."""

    t_s: F64  # [K] UTC seconds since the epoch
    hour: F64  # [P, K] local hour of day, 0..24
    weekend: npt.NDArray[np.bool_]  # [P, K]
    t_out: F64  # [P, K] outdoor temperature, degC
    ghi_clear: F64  # [P, K] clear-sky global horizontal irradiance, W/m2
    cloud: F64  # [P, K] fraction of clear-sky irradiance reaching the ground, 0..1
    frequency: F64  # [K] grid frequency, Hz (one synchronous grid per scenario)


class Environment:
    """Conditions in each of the scenario's places, seeded by the scenario seed (the
    scenario's own place exactly as before places existed; the others' weather apart)."""

    def __init__(self, scenario: Scenario) -> None:
        self.sc = scenario
        self.places = scenario.all_places()
        self._seed = np.array([scenario.seed * 1000003 + DISTRICT_SEED_SALT])
        self._seeds = [self._seed + 7907 * i for i in range(len(self.places))]

    def at(self, t_s: F64) -> Env:
        rows = [self._place(i, t_s) for i in range(len(self.places))]
        freq = (
            50.0
            + 0.02 * smooth(self._seed, t_s, 60.0, 4)[0]
            + 0.002 * (uniform(self._seed, np.floor(t_s).astype(np.int64), 5)[0] - 0.5)
        )
        return Env(
            t_s=t_s,
            hour=np.stack([r[0] for r in rows]),
            weekend=np.stack([r[1] for r in rows]),
            t_out=np.stack([r[2] for r in rows]),
            ghi_clear=np.stack([r[3] for r in rows]),
            cloud=np.stack([r[4] for r in rows]),
            frequency=freq,
        )

    def _place(self, i: int, t_s: F64) -> tuple[F64, npt.NDArray[np.bool_], F64, F64, F64]:
        pl, seed = self.places[i], self._seeds[i]
        local = t_s + pl.utc_offset_h * 3600.0
        hour = (local / 3600.0) % 24.0
        day = np.floor(local / 86400.0)
        weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        weather = smooth(seed, t_s, 6 * 3600.0, 1)[0]
        t_out = (
            pl.mean_temp_c
            + pl.daily_swing_c / 2.0 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
            + 2.5 * weather
        )
        slow = np.clip(0.5 + 0.7 * smooth(seed, t_s, 1800.0, 2)[0], 0.0, 1.0)
        fast = np.clip(0.5 + 0.7 * smooth(seed, t_s, 180.0, 3)[0], 0.0, 1.0)
        cloud = np.clip(1.0 - pl.cloudiness * (0.6 * slow + 0.4 * fast), 0.08, 1.0)
        ghi = self.clear_sky(t_s, pl.latitude, pl.longitude)
        return hour, weekday >= 5, t_out, ghi, cloud

    def clear_sky(self, t_s: F64, latitude: float, longitude: float) -> F64:
        """Clear-sky GHI in W/m2 (Haurwitz model) from the solar elevation at a place."""
        doy = (t_s / 86400.0) % 365.2422
        decl = np.radians(23.44) * np.sin(2 * np.pi * (284 + doy) / 365.2422)
        solar_hour = ((t_s / 3600.0) + longitude / 15.0) % 24.0
        omega = np.radians(15.0 * (solar_hour - 12.0))
        lat = np.radians(latitude)
        cos_z = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(omega)
        cz = np.clip(cos_z, 1e-6, None)
        ghi = 1098.0 * cz * np.exp(-0.057 / cz)
        out: F64 = np.where(cos_z > 0.0, ghi, 0.0)
        return out


def local_clock(t_s: F64, utc_offset_h: F64) -> tuple[F64, npt.NDArray[np.bool_]]:
    """[n, K] local hour of day and weekend flags for n clocks `utc_offset_h` hours off UTC."""
    local = t_s[None, :] + utc_offset_h[:, None] * 3600.0
    hour: F64 = (local / 3600.0) % 24.0
    weekday = (np.floor(local / 86400.0) + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    return hour, weekday >= 5


def occupancy(
    env: Env,
    open_hour: F64,
    close_hour: F64,
    weekend_factor: F64,
    utc_offset_h: F64 | None = None,
    place: npt.NDArray[np.intp] | None = None,
) -> F64:
    """[n, K] fraction of a building's occupants present: smooth ramps over an hour around
    opening and closing, scaled on weekends; on each building's own clock when
    `utc_offset_h` [n] is given, else on its place's (`place` [n], default the scenario's)."""
    if utc_offset_h is None:
        rows = np.zeros(open_hour.shape[0], np.intp) if place is None else place
        h = env.hour[rows]
        weekend = env.weekend[rows]
    else:
        h, weekend = local_clock(env.t_s, utc_offset_h)
    rise = 1.0 / (1.0 + np.exp(-(h - open_hour[:, None]) * 4.0))
    fall = 1.0 / (1.0 + np.exp((h - close_hour[:, None]) * 4.0))
    lunch = 1.0 - 0.15 * np.exp(-((h - 12.5) ** 2) / 0.5)
    scale = np.where(weekend, weekend_factor[:, None], 1.0)
    out: F64 = rise * fall * lunch * scale
    return out
