"""The storage schema, version 2: one layout written by ingest and read by the API.

Series identity is (measurement, tags); timestamps are the source timestamps in UTC ns. Both
are deterministic functions of the payload, so a re-delivered batch overwrites itself.
City and district are *not* tags: they are looked up in the config registry, so moving a site
between districts never splits its series.

| measurement     | tags                          | fields                                      |
|-----------------|-------------------------------|---------------------------------------------|
| reading         | site, device, point           | value (float), text (str), quality (int)    |
| anomaly_score   | site, device, point           | score (float 0..1), detector (str)          |
| anomaly_event   | site, device, point, kind     | event_id, state, end (int ns), peak_score,  |
|                 |                               | points (str), expected_low, expected_high,  |
|                 |                               | seen (float; optional), cause_ns (int ns, 0:|
|                 |                               | none), cause_point (str), cause_from,       |
|                 |                               | cause_to (float) (the cause_* optional)     |
| anomaly_feedback| site, device, point, kind     | event_id, verdict, note, by, detector (str),|
|                 |                               | given (int ns), lead (int 0/1), peak, low,  |
|                 |                               | high (float; low/high optional)             |
| energy          | site, device, flow            | kwh, estimated_kwh, suspect_kwh, covered_s, |
|                 |                               | suspect_n (int), quality (str)              |
| energy_1h       | site, flow                    | kwh, estimated_kwh, suspect_kwh             |
| energy_1d       | site, flow                    | kwh, estimated_kwh, suspect_kwh             |
| emissions       | site, scope, method           | kgco2e, kg_per_kwh (float), basis (str)     |
| emissions_1d    | site, scope, method           | kgco2e (float)                              |
| carbon_intensity| region                        | g_per_kwh (float)                           |
| late_data       | site, device, worker          | from_ns, to_ns (int)                        |
| import_ledger   | site, device, flow            | file, sha256, kind (str), rows, written,    |
|                 |                               | from_ns, to_ns (int), total (float)         |

Derived rows (version 2) are a deterministic function of the stored readings, written by the
deriver (peakline_ingest.derive): `energy` per device and flow per aligned 1-minute window
(time = window start; `quality` measured, estimated, suspect or imported), `energy_1h` and
`energy_1d` per site and flow summed from them (UTC hours and days), `emissions` per site
per UTC hour (location-based Scope 2: `basis` says whether the grid's hourly intensity or
the annual factor was used) and `emissions_1d` from those. Market-based Scope 2 is not
stored: it depends on the year's imports in time order, so reports compute it from the
`energy_1d` / `energy_1h` rows.
An `anomaly_event` with `cause_ns` > 0 is explained by a command (issue 18): a writable
point of the device (`cause_point`) changed from `cause_from` to `cause_to` at `cause_ns`,
shortly before the incident started; it is kept for the record and raises no alert.
`anomaly_feedback` holds operators' verdicts (`confirmed` or `false_alarm`) on anomaly
events, written by the API and read by the deriver's anomaly scorer: one row per point of
the incident (time = the incident's start, `kind` its kind, `lead` 1 on its lead point, so a
new verdict on the same event overwrites the old: the latest wins), with the detector that
peaked on that point, its peak score and the band it read over (model units: a counter's
rate in units/s), and when the verdict was `given` (UTC ns; it applies from then on).
`late_data` marks readings stored after the deriver's
lateness (a spool drain, an import): the deriver re-derives the windows they touch.
Imported history (`peakline_store.importing`) is stored as `energy` rows with `quality`
imported and a `source` string field ("<file>:<line>"), one per interval (15 minutes, an hour,
a bill's day); each committed file leaves an `import_ledger` row, and a `late_data` mark under
device `import:<device>` makes the deriver roll up the span again.

Flows (tag `flow`): `import`, `export`, `pv` (electricity, kWh); `fuel:<fuel id>` (a fuel
meter of inventory.yaml, e.g. `fuel:natural_gas`: the `kwh`, `estimated_kwh` and
`suspect_kwh` fields hold the fuel's own unit, the meter's `unit`: m3, t, ...) and
`heat:<network id>` (a heat, steam or cooling meter: kWh, converted from GJ/MJ/MWh).
Roll-ups sum them like electricity; only `import` feeds `emissions`.

`reading.value` holds numbers and booleans (as 0/1); strings go to `text`; quality is
0 good, 1 stale, 2 error (an error reading has quality only, no value).
"""

from __future__ import annotations

from enum import IntEnum
from typing import Final

from peakline_core.wire.payloads import Quality

SCHEMA_VERSION: Final = 3

READING: Final = "reading"
ANOMALY_SCORE: Final = "anomaly_score"
ANOMALY_EVENT: Final = "anomaly_event"
ANOMALY_FEEDBACK: Final = "anomaly_feedback"
ENERGY: Final = "energy"
ENERGY_1H: Final = "energy_1h"
ENERGY_1D: Final = "energy_1d"
ENERGY_1MO: Final = "energy_1mo"
EMISSIONS: Final = "emissions"
EMISSIONS_1D: Final = "emissions_1d"
EMISSIONS_1MO: Final = "emissions_1mo"
CARBON_INTENSITY: Final = "carbon_intensity"
LATE_DATA: Final = "late_data"
# A `late_data` row's device: a device id, or one of these prefixes + what it stands for.
GRID_DEVICE: Final = "grid:"  # + region: the `late_data` device of a late grid-intensity point
IMPORT_DEVICE: Final = "import:"
"""+ device: the `late_data` device of an import's span (its `energy` rows are written by the
importer; the deriver rolls up the hours from `from_ns` to `to_ns` again)."""
IMPORT_LEDGER: Final = "import_ledger"

MEASUREMENTS: Final = (
    READING,
    ANOMALY_SCORE,
    ANOMALY_EVENT,
    ANOMALY_FEEDBACK,
    ENERGY,
    ENERGY_1H,
    ENERGY_1D,
    ENERGY_1MO,
    EMISSIONS,
    EMISSIONS_1D,
    EMISSIONS_1MO,
    CARBON_INTENSITY,
    LATE_DATA,
    IMPORT_LEDGER,
)
SERIES_TAGS: Final[dict[str, tuple[str, ...]]] = {
    READING: ("site", "device", "point"),
    ANOMALY_SCORE: ("site", "device", "point"),
    ANOMALY_EVENT: ("site", "device", "point", "kind"),
    ANOMALY_FEEDBACK: ("site", "device", "point", "kind"),
    ENERGY: ("site", "device", "flow"),
    ENERGY_1H: ("site", "flow"),
    ENERGY_1D: ("site", "flow"),
    ENERGY_1MO: ("site", "flow"),
    EMISSIONS: ("site", "scope", "method"),
    EMISSIONS_1D: ("site", "scope", "method"),
    EMISSIONS_1MO: ("site", "scope", "method"),
    CARBON_INTENSITY: ("region",),
    LATE_DATA: ("site", "device", "worker"),
    IMPORT_LEDGER: ("site", "device", "flow"),
}

# The string fields of each measurement (the table above): a sum over them is nothing, and a
# store that sums server-side must not ask for one.
TEXT_FIELDS: Final[dict[str, frozenset[str]]] = {
    READING: frozenset({"text"}),
    ANOMALY_SCORE: frozenset({"detector"}),
    ANOMALY_EVENT: frozenset({"event_id", "state", "points", "cause_point"}),
    ANOMALY_FEEDBACK: frozenset({"event_id", "verdict", "note", "by", "detector"}),
    ENERGY: frozenset({"quality", "source"}),
    IMPORT_LEDGER: frozenset({"file", "sha256", "kind"}),
    EMISSIONS: frozenset({"basis"}),
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
