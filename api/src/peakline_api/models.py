"""Response models (they are the OpenAPI schema; examples included)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Generic, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field

if TYPE_CHECKING:
    from peakline_api.params import Paging

T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list; `next_offset` is null on the last page."""

    items: list[T]
    total: int = Field(description="items matching the filters, all pages")
    limit: int
    offset: int
    next_offset: int | None

    @classmethod
    def of(cls, matching: Sequence[T], paging: Paging) -> Self:
        """The page `paging` asks for out of every matching item."""
        end = paging.offset + paging.limit
        return cls.window(list(matching[paging.offset : end]), len(matching), paging)

    @classmethod
    def window(cls, items: list[T], total: int, paging: Paging) -> Self:
        """A page already cut (by the database) out of `total` matching items."""
        end = paging.offset + paging.limit
        return cls(
            items=items,
            total=total,
            limit=paging.limit,
            offset=paging.offset,
            next_offset=end if end < total else None,
        )


class CityOut(BaseModel):
    id: str
    name: str
    country: str
    population: int | None
    public: bool


class DistrictOut(BaseModel):
    id: str
    city: str
    name: str


class SiteOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "id": "rt-school",
                    "name": "Riverton No.3 Primary School",
                    "city": "riverton",
                    "city_name": "Riverton",
                    "district": "riverton-old-town",
                    "district_name": "Old Town",
                    "kind": "building",
                    "floor_area_m2": 6200,
                    "occupants": 950,
                    "grid_region": "CN-EAST",
                    "timezone": "Asia/Shanghai",
                    "devices": 4,
                    "online": 4,
                }
            ]
        }
    )

    id: str
    name: str
    city: str
    city_name: str = Field(description="the city's name, as the programme config gives it")
    district: str
    district_name: str = Field(description="the district's name")
    kind: str
    floor_area_m2: float
    occupants: int
    grid_region: str
    timezone: str
    devices: int = Field(description="enabled devices at the site")
    online: int = Field(description="devices whose retained status is online")


class PointOut(BaseModel):
    name: str
    unit: str
    counter: bool = Field(default=False, description="a cumulative counter (energy, volume)")
    writable: dict[str, float | None] | None = Field(
        default=None, description="min, max, step, max_rate_per_min when commands may write it"
    )


class DeviceStatusOut(BaseModel):
    state: str = Field(description="online, unavailable, offline or unknown", examples=["online"])
    since: str | None = Field(description="ISO 8601 time of the last state change")
    reason: str | None
    last_seen: str | None = Field(description="ISO 8601 time of the newest reading seen")
    quality: str | None = Field(description="worst quality in the newest batch: good/stale/error")


class DeviceOut(BaseModel):
    id: str
    site: str
    agent: str
    profile: str
    kind: str
    name: str
    read_only: bool
    enabled: bool
    poll_interval_s: float
    status: DeviceStatusOut
    points: list[PointOut]


class LatestReading(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "site": "rt-school",
                    "device": "school-meter",
                    "point": "power_total",
                    "unit": "W",
                    "time": "2025-03-01T08:00:05.000Z",
                    "t_ms": 1740816005000,
                    "value": 41250.0,
                    "quality": "good",
                }
            ]
        }
    )

    site: str
    device: str
    point: str
    unit: str
    time: str
    t_ms: int = Field(description="time in ms since the Unix epoch (UTC)")
    value: float | int | bool | str | None
    quality: str | None


class SeriesOut(BaseModel):
    site: str
    device: str
    point: str
    unit: str
    t_ms: list[int] = Field(description="bucket starts (or raw times) in ms since the epoch, UTC")
    values: list[float | int | bool | str | None]


class SeriesResponse(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "start": "2025-03-01T00:00:00.000Z",
                    "end": "2025-03-02T00:00:00.000Z",
                    "window": "1m",
                    "aggregate": "mean",
                    "downsampled": True,
                    "series": [
                        {
                            "site": "rt-school",
                            "device": "school-meter",
                            "point": "power_total",
                            "unit": "W",
                            "t_ms": [1740787200000],
                            "values": [40125.5],
                        }
                    ],
                }
            ]
        }
    )

    start: str
    end: str
    window: str | None = Field(description="aggregation window, null for raw points")
    aggregate: str | None
    downsampled: bool = Field(description="true when the API chose the window itself")
    series: list[SeriesOut]
