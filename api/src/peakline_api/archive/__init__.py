"""City archives (issue 23): everything a city owns for a period in one streamed zip, and
the way back into an empty store. See docs/export.md."""

from peakline_api.archive.errors import (
    ArchiveFormatError,
    ArchiveInvalid,
    ExportError,
    TargetNotEmpty,
)
from peakline_api.archive.export import (
    MAX_PERIOD_NS,
    AppDatabases,
    CityScope,
    city_scope,
    export_city,
    planned_reads,
)
from peakline_api.archive.restore import RestoreReport, restore_archive

__all__ = [
    "MAX_PERIOD_NS",
    "AppDatabases",
    "ArchiveFormatError",
    "ArchiveInvalid",
    "CityScope",
    "ExportError",
    "RestoreReport",
    "TargetNotEmpty",
    "city_scope",
    "export_city",
    "planned_reads",
    "restore_archive",
]
