"""Grid carbon intensity from MQTT: `{prefix}/v1/grid/{region}` -> `carbon_intensity` rows.

A region's intensity (g CO2e/kWh) arrives as one JSON object per point, the format of
`peakline_core.emissions.intensity.parse_intensity_message`. There are a few points per
region an hour, so each is written on its own, outside the telemetry batches; the roll-up
reads them when it derives an hour's location-based emissions (docs/storage.md).
"""

from __future__ import annotations

from collections.abc import Iterable

from peakline_core.emissions.errors import IntensityParseError
from peakline_core.emissions.intensity import parse_intensity_message
from peakline_core.errors import TopicError
from peakline_core.storage import Row
from peakline_core.storage.schema import CARBON_INTENSITY
from peakline_core.wire import TopicKind, Topics
from peakline_ingest.validate import Limits, Rejected

NS = 1_000_000_000


class GridSignals:
    """Checks grid-intensity messages; `regions` None accepts any valid region id."""

    def __init__(
        self, topics: Topics, regions: Iterable[str] | None = None, limits: Limits | None = None
    ) -> None:
        self.topics = topics
        self.regions = None if regions is None else frozenset(regions)
        self.limits = limits or Limits()
        self.prefix = f"{topics.root}/{TopicKind.GRID.value}/"

    def owns(self, topic: str) -> bool:
        """True for a topic under the grid kind (checked further by `row`)."""
        return topic.startswith(self.prefix)

    def row(self, topic: str, payload: bytes, now_ns: int) -> Row:
        """The message's `carbon_intensity` row; raises Rejected with a reason."""
        try:
            parsed = self.topics.parse(topic)
        except TopicError as exc:
            raise Rejected("bad_topic", str(exc)) from None
        if parsed.kind is not TopicKind.GRID or parsed.name is None:
            raise Rejected("bad_topic", f"{topic!r} is not a grid topic")
        try:
            point = parse_intensity_message(payload)
        except IntensityParseError as exc:
            raise Rejected(f"grid_{exc.reason}", exc.detail) from None
        if point.region != parsed.name:
            raise Rejected(
                "topic_mismatch", f"payload is region {point.region!r}, topic is {parsed.name!r}"
            )
        if self.regions is not None and point.region not in self.regions:
            known = ", ".join(sorted(self.regions))
            raise Rejected(
                "unknown_region", f"no site is in grid region {point.region!r} (known: {known})"
            )
        if point.ts_ns > now_ns + int(self.limits.max_future_s * NS):
            raise Rejected("timestamp_future", f"point at {point.ts_ns} ns is in the future")
        if point.ts_ns < now_ns - int(self.limits.max_past_s * NS):
            raise Rejected("timestamp_past", f"point at {point.ts_ns} ns is too old")
        return Row(
            CARBON_INTENSITY, {"region": point.region}, {"g_per_kwh": point.g_per_kwh}, point.ts_ns
        )
