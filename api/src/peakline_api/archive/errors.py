"""The archive's errors, under the API's root (an export asked badly answers 422)."""

from __future__ import annotations

from peakline_api.errors import ApiError


class ExportError(ApiError):
    """The export cannot be made as asked (unknown city, bad period, unknown format)."""

    status, code, title = 422, "invalid-export", "Export not possible as asked"


class ArchiveInvalid(ExportError):
    """Not a city archive this version can restore, or a member that fails its checksum."""

    status, code, title = 422, "invalid-archive", "Not a restorable city archive"


class ArchiveFormatError(ArchiveInvalid):
    """A member's line or cell is not what this archive format says."""


class TargetNotEmpty(ExportError):
    """The restore's target already holds the city's rows in the archive's span (the store)
    or selection (the API's tables); a forced restore overwrites them."""

    status, code, title = 409, "restore-target-not-empty", "The restore target is not empty"
