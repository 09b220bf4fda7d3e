"""MQTT-native sensors: every sensor publishes a JSON object on its own topic every interval
(simulated seconds), like off-the-shelf devices do: {"time": ISO 8601 UTC, <field>: value}.
A dropout fault (whole sensor or one field) suppresses the message or leaves the field out.
Grid signals (a region's carbon intensity) are published through the same connection."""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import json
import logging
import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import numpy as np

from firmware_sim.clock import SimClock
from firmware_sim.errors import ServeError
from firmware_sim.measure import apply_faults
from firmware_sim.physics.grid import intensity, signal_seed
from firmware_sim.scenario import DeviceSpec, GridSignal, MqttListen
from firmware_sim.timeparse import NS
from firmware_sim.world import World
from peakline_core.config import MqttProfile
from peakline_core.wire.broker import BrokerAddress, BrokerUrlError

DIGITS = {"co2": 0, "occupancy": 0, "battery": 0}

log = logging.getLogger("firmware_sim.mqtt")


@dataclass(frozen=True)
class MqttLogin:
    """The broker login the simulated sensors publish with (one for all of them, as a lab
    bench wired to a production broker would be: give it the account of the sensor whose
    topic the broker's ACL lets it write)."""

    username: str
    password: str | None = None

    @classmethod
    def from_file(cls, username: str, password_file: Path | None) -> MqttLogin:
        """Read the password from `password_file` (first line); ServeError if unreadable."""
        if password_file is None:
            return cls(username)
        try:
            return cls(username, password_file.read_text().strip())
        except OSError as exc:
            raise ServeError(f"cannot read MQTT password file {password_file}: {exc}") from None


def topic_of(spec: DeviceSpec) -> str:
    listen = spec.listen
    assert isinstance(listen, MqttListen)
    return listen.topic or f"sensors/{spec.id}"


def payload(profile: MqttProfile, values: dict[str, float], t_ns: int) -> dict[str, object] | None:
    """The sensor's JSON object, or None when every field is missing (the sensor is silent)."""
    out: dict[str, object] = {}
    if profile.timestamp_field:
        stamp = datetime.fromtimestamp(t_ns / NS, tz=UTC).isoformat(timespec="milliseconds")
        out[profile.timestamp_field] = stamp.replace("+00:00", "Z")
    present = 0
    for f in profile.fields:
        v = values.get(f.name, math.nan)
        if math.isnan(v):
            continue
        raw = (v - f.offset) / f.scale
        node = out
        *parents, leaf = f.field.split(".")
        for part in parents:
            node = node.setdefault(part, {})  # type: ignore[assignment]
        digits = DIGITS.get(f.name, 1)
        node[leaf] = round(raw) if digits == 0 else round(raw, digits)
        present += 1
    return out if present else None


def grid_payload(signal: GridSignal, g_per_kwh: float, t_ns: int) -> dict[str, object]:
    """A grid signal point as peakline's grid topic takes it (docs/architecture.md)."""
    stamp = datetime.fromtimestamp(t_ns / NS, tz=UTC).isoformat(timespec="seconds")
    return {
        "region": signal.region,
        "ts": stamp.replace("+00:00", "Z"),
        "intensity_g_per_kwh": round(g_per_kwh, 1),
    }


class SensorPublisher:
    """Publishes every MQTT sensor and grid signal of a scenario through one connection.
    `signals`: each grid signal with the topic it is published on."""

    def __init__(
        self,
        url: str,
        world: World,
        clock: SimClock,
        sensors: list[tuple[DeviceSpec, MqttProfile]],
        login: MqttLogin | None = None,
        signals: list[tuple[GridSignal, str]] | None = None,
    ) -> None:
        try:
            address = BrokerAddress.parse(url)  # the platform's one broker URL parser
        except BrokerUrlError as exc:
            raise ServeError(str(exc)) from None
        if login is not None:
            address = address.with_login(login.username, login.password)
        self.address = address
        self.host, self.port = address.host, address.port
        self.world, self.clock, self.sensors = world, clock, sensors
        self.signals = signals or []
        self.published = 0
        self.connect_failures = 0  # refused logins included; the last reason in `last_error`
        self.last_error: str | None = None
        self.failed = asyncio.Event()  # set on the first failed connection
        self.connected = asyncio.Event()  # set while connected to the broker
        self._moved = asyncio.Event()

    def clock_moved(self) -> None:
        """A stepped (manual) clock was set forward: publish what is due now instead of at the
        next poll of the clock, so a fast backfill gets a message every step."""
        self._moved.set()

    def sample(self, spec: DeviceSpec, profile: MqttProfile, t_ns: int) -> dict[str, object] | None:
        raw = self.world.values_at(spec.id, t_ns)
        series = {f.name: np.array([raw.get(f.name, math.nan)]) for f in profile.fields}
        mine = [f for f in self.world.faults if f.fault.device == spec.id]
        ts = np.array([t_ns], dtype=np.int64)
        rep = apply_faults(mine, self.world.captured, profile, {}, ts, series)
        return payload(profile, {k: float(v[0]) for k, v in rep.items()}, t_ns)

    def grid_sample(self, i: int, t_ns: int) -> dict[str, object]:
        signal, _ = self.signals[i]
        sc = self.world.scenario
        t_s = np.array([t_ns / NS])
        g = intensity(signal, sc, self.world.env, t_s, signal_seed(sc, i))
        return grid_payload(signal, float(g[0]), t_ns)

    def _job(self, i: int) -> tuple[str, float, dict[str, object] | None]:
        """Topic, interval (simulated s) and body of queue entry `i` (sensors, then signals)."""
        now = self.clock.now()
        if i < len(self.sensors):
            spec, profile = self.sensors[i]
            assert isinstance(spec.listen, MqttListen)
            return topic_of(spec), spec.listen.interval_s, self.sample(spec, profile, now)
        k = i - len(self.sensors)
        signal, topic = self.signals[k]
        return topic, signal.interval_s, self.grid_sample(k, now)

    async def run(self) -> None:
        """Publish until cancelled; reconnects with backoff if the broker goes away."""
        backoff = 0.2
        address = self.address
        tls = aiomqtt.TLSParameters() if address.tls else None  # system CA store
        while True:
            try:
                async with aiomqtt.Client(
                    address.host,
                    address.port,
                    identifier=None,
                    username=address.username,
                    password=address.password,
                    tls_params=tls,
                ) as client:
                    backoff = 0.2
                    self.connected.set()
                    await self._loop(client)
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                self.connect_failures += 1
                if str(exc) != self.last_error:  # say it once, not on every retry
                    log.warning("MQTT sensors cannot publish to %s: %s", self.host, exc)
                self.last_error = str(exc)
                self.failed.set()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 5.0)

    async def _loop(self, client: aiomqtt.Client) -> None:
        now = self.clock.now()
        queue: list[tuple[int, int]] = []
        intervals = [
            s.listen.interval_s for s, _ in self.sensors if isinstance(s.listen, MqttListen)
        ]
        intervals += [g.interval_s for g, _ in self.signals]
        for i, interval_s in enumerate(intervals):
            interval = round(interval_s * NS)
            heapq.heappush(queue, (now + (i * 7919 * NS) % interval, i))  # staggered
        while True:
            due, i = queue[0]
            self._moved.clear()  # before reading the clock: a move after this wakes the wait
            now = self.clock.now()
            if due > now:
                wait = self.clock.wall_seconds((due - now) / NS)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._moved.wait(), min(wait, 0.5))
                continue
            heapq.heappop(queue)
            topic, interval_s, body = self._job(i)
            if body is not None:
                # Grid points at QoS 1, as a signal provider's feed into a platform would be.
                qos = 0 if i < len(self.sensors) else 1
                await client.publish(topic, json.dumps(body).encode(), qos=qos)
                self.published += 1
            interval = round(interval_s * NS)
            # Intervals missed while the clock jumped (a stepped backfill) are skipped, as a
            # sensor that slept would: one message now, not a burst stamped with the same time.
            heapq.heappush(queue, (now - (now - due) % interval + interval, i))
