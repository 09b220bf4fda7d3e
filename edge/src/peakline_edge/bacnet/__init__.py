"""BACnet/IP on the edge (bacpypes3): discovery, batched reads, writes at a priority and
relinquish."""

from peakline_edge.bacnet.client import (
    AnsweringDevice,
    BacnetClient,
    DiscoveredDevice,
    DiscoveredPoint,
)

__all__ = ["AnsweringDevice", "BacnetClient", "DiscoveredDevice", "DiscoveredPoint"]
