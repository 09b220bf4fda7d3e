"""The store package's error root. A store's failures are core's `StoreError` tree (the
`Store` contract ingest writes and the API reads through); everything else peakline_store
raises (a bad store URL, an HTTP write with no answer, a refused import) is a
`StorePackageError`."""

from __future__ import annotations

from peakline_core.errors import PeaklineError


class StorePackageError(PeaklineError):
    """Base of every error raised by peakline_store besides core's `StoreError`s."""
