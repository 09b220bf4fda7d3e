"""ReadPropertyMultiple batch sizes from the device's I-Am (max APDU, segmentation)."""

from __future__ import annotations

import pytest

from peakline_edge.bacnet.client import rpm_batch_size


@pytest.mark.parametrize(
    ("max_apdu", "segmentation", "batch"),
    [
        (50, "no-segmentation", 2),  # the smallest APDU a device may accept
        (128, "no-segmentation", 7),
        (480, "no-segmentation", 29),  # MS/TP routers, small controllers
        (1476, "no-segmentation", 91),  # BACnet/IP over Ethernet
        (1476, "segmented-both", 100),
        (206, "segmented-receive", 12),  # it can receive segments, but not send the answer
        (10, "no-segmentation", 1),
    ],
)
def test_batch_fits_the_devices_apdu(max_apdu: int, segmentation: str, batch: int) -> None:
    assert rpm_batch_size(max_apdu, segmentation) == batch
