"""The worker's collector settings (restored afterwards: the test process shares them)."""

from __future__ import annotations

import gc

from peakline_ingest.gctune import tune_for_throughput


def test_tune_freezes_start_up_objects_and_raises_thresholds() -> None:
    before = gc.get_threshold()
    try:
        tune_for_throughput(young=12_345, older=7)
        assert gc.get_threshold() == (12_345, 7, 7)
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
