"""The ingest service's error root. A store's failures are core's `StoreError` tree (the
`Store` contract the API reads through too); everything else ingest raises is an `IngestError`."""

from __future__ import annotations

from peakline_core.errors import PeaklineError


class IngestError(PeaklineError):
    """Base of every error raised by peakline_ingest (besides the store's `StoreError`s)."""
