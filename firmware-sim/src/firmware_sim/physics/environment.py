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
    """Shared conditions at K time steps (arrays of shape [K])."""

    t_s: F64  # UTC seconds since the epoch
    hour: F64  # local hour of day, 0..24
    weekend: npt.NDArray[np.bool_]
    t_out: F64  # outdoor temperature, degC
    ghi_clear: F64  # clear-sky global horizontal irradiance, W/m2
    cloud: F64  # fraction of clear-sky irradiance reaching the ground, 0..1
    frequency: F64  # grid frequency, Hz


class Environment:
    """District-wide conditions, seeded by the scenario seed."""

    def __init__(self, scenario: Scenario) -> None:
        self.sc = scenario
        self._seed = np.array([scenario.seed * 1000003 + DISTRICT_SEED_SALT])

    def at(self, t_s: F64) -> Env:
        sc = self.sc
        local = t_s + sc.utc_offset_h * 3600.0
        hour = (local / 3600.0) % 24.0
        day = np.floor(local / 86400.0)
        weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
        weather = smooth(self._seed, t_s, 6 * 3600.0, 1)[0]
        t_out = (
            sc.mean_temp_c
            + sc.daily_swing_c / 2.0 * np.cos(2 * np.pi * (hour - 15.0) / 24.0)
            + 2.5 * weather
        )
        slow = np.clip(0.5 + 0.7 * smooth(self._seed, t_s, 1800.0, 2)[0], 0.0, 1.0)
        fast = np.clip(0.5 + 0.7 * smooth(self._seed, t_s, 180.0, 3)[0], 0.0, 1.0)
        cloud = np.clip(1.0 - sc.cloudiness * (0.6 * slow + 0.4 * fast), 0.08, 1.0)
        freq = (
            50.0
            + 0.02 * smooth(self._seed, t_s, 60.0, 4)[0]
            + 0.002 * (uniform(self._seed, np.floor(t_s).astype(np.int64), 5)[0] - 0.5)
        )
        return Env(
            t_s=t_s,
            hour=hour,
            weekend=weekday >= 5,
            t_out=t_out,
            ghi_clear=self.clear_sky(t_s),
            cloud=cloud,
            frequency=freq,
        )

    def clear_sky(self, t_s: F64) -> F64:
        """Clear-sky GHI in W/m2 (Haurwitz model) from the solar elevation at the scenario's
        latitude and longitude."""
        doy = (t_s / 86400.0) % 365.2422
        decl = np.radians(23.44) * np.sin(2 * np.pi * (284 + doy) / 365.2422)
        solar_hour = ((t_s / 3600.0) + self.sc.longitude / 15.0) % 24.0
        omega = np.radians(15.0 * (solar_hour - 12.0))
        lat = np.radians(self.sc.latitude)
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
) -> F64:
    """[n, K] fraction of a building's occupants present: smooth ramps over an hour around
    opening and closing, scaled on weekends; on each building's own clock when
    `utc_offset_h` [n] is given (else the district's)."""
    if utc_offset_h is None:
        h = env.hour[None, :]
        weekend = env.weekend[None, :]
    else:
        h, weekend = local_clock(env.t_s, utc_offset_h)
    rise = 1.0 / (1.0 + np.exp(-(h - open_hour[:, None]) * 4.0))
    fall = 1.0 / (1.0 + np.exp((h - close_hour[:, None]) * 4.0))
    lunch = 1.0 - 0.15 * np.exp(-((h - 12.5) ** 2) / 0.5)
    scale = np.where(weekend, weekend_factor[:, None], 1.0)
    out: F64 = rise * fall * lunch * scale
    return out
