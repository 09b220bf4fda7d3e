"""The storage schema, version 1: one layout written by ingest and read by the API.

Series identity is (measurement, tags); timestamps are the source timestamps in UTC ns. Both
are deterministic functions of the payload, so a re-delivered batch overwrites itself.
City and district are *not* tags: they are looked up in the config registry, so moving a site
between districts never splits its series.

| measurement     | tags                          | fields                                      |
|-----------------|-------------------------------|---------------------------------------------|
| reading         | site, device, point           | value (float), text (str), quality (int)    |
| anomaly_score   | site, device, point           | score (float 0..1), detector (str)          |
| anomaly_event   | site, device, point, kind     | event_id, state, end (int ns), peak_score   |
| energy          | site, flow                    | kwh (float)                                 |
| emissions       | site, scope, method           | kgco2e (float)                              |
| carbon_intensity| region                        | g_per_kwh (float)                           |

`reading.value` holds numbers and booleans (as 0/1); strings go to `text`; quality is
0 good, 1 stale, 2 error (an error reading has quality only, no value).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from peakline_core.wire.payloads import Quality

SCHEMA_VERSION: Final = 1

READING: Final = "reading"
ANOMALY_SCORE: Final = "anomaly_score"
ANOMALY_EVENT: Final = "anomaly_event"
ENERGY: Final = "energy"
EMISSIONS: Final = "emissions"
CARBON_INTENSITY: Final = "carbon_intensity"

MEASUREMENTS: Final = (READING, ANOMALY_SCORE, ANOMALY_EVENT, ENERGY, EMISSIONS, CARBON_INTENSITY)
SERIES_TAGS: Final[dict[str, tuple[str, ...]]] = {
    READING: ("site", "device", "point"),
    ANOMALY_SCORE: ("site", "device", "point"),
    ANOMALY_EVENT: ("site", "device", "point", "kind"),
    ENERGY: ("site", "flow"),
    EMISSIONS: ("site", "scope", "method"),
    CARBON_INTENSITY: ("region",),
}


class QualityCode(IntEnum):
    GOOD = 0
    STALE = 1
    ERROR = 2

    @classmethod
    def of(cls, quality: Quality) -> QualityCode:
        return _QUALITY[quality]


_QUALITY: Final = {
    Quality.GOOD: QualityCode.GOOD,
    Quality.STALE: QualityCode.STALE,
    Quality.ERROR: QualityCode.ERROR,
}
