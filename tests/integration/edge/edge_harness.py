"""Helpers for process-level edge tests: a config directory on free ports, the agent as a real
subprocess (so SIGKILL is real), and a QoS 1 persistent-session collector of telemetry."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiomqtt

from peakline_core.config.profiles import ModbusProfile
from peakline_core.registers import encode_value
from peakline_core.wire import TelemetryBatch, decode_telemetry
from peakline_testing.configs import agent, site, write_config_dir
from peakline_testing.modbus_peer import Unit

PROFILE: dict[str, Any] = {
    "protocol": "modbus",
    "name": "test-meter",
    "kind": "meter",
    "points": [
        {"name": "count", "table": "holding", "address": 0, "dtype": "uint32", "counter": True},
        {"name": "power", "unit": "W", "table": "holding", "address": 2, "dtype": "float32"},
        {
            "name": "temp",
            "unit": "C",
            "table": "holding",
            "address": 4,
            "dtype": "int16",
            "scale": 0.1,
        },
        {"name": "status", "table": "holding", "address": 10, "dtype": "uint16"},
    ],
}


def meter_unit(power: float, temp: float) -> Unit:
    """A Modbus unit serving PROFILE's points: a read counter at 0, `power` (W), `temp` (C)."""
    unit = Unit(counters={0})
    values = {"count": 0, "power": power, "temp": temp, "status": 3}
    for p in ModbusProfile.model_validate(PROFILE).points:
        for i, w in enumerate(encode_value(p, values[p.name])):
            unit.holding[p.address + i] = w
    for a in range(5, 10):
        unit.holding[a] = 0
    return unit


def write_config(
    root: Path,
    broker: str,
    prefix: str,
    devices: list[dict[str, Any]],
    spool: dict[str, Any] | None = None,
) -> Path:
    """A configuration directory with one agent `gw1`, site `s1` and the given devices."""
    return write_config_dir(
        root,
        sites=[site()],
        agents=[agent(broker, prefix, site="s1", **({"spool": spool} if spool else {}))],
        devices=devices,
        files={"profiles/test-meter.yaml": PROFILE},
    )


def modbus_device(
    name: str,
    port: int,
    unit_id: int = 1,
    interval: float = 0.5,
    timeout: float = 0.5,
    retries: int = 1,
) -> dict[str, Any]:
    return {
        "id": name,
        "site": "s1",
        "agent": "gw1",
        "profile": "test-meter",
        "poll_interval_s": interval,
        "connection": {
            "driver": "modbus-tcp",
            "host": "127.0.0.1",
            "port": port,
            "unit_id": unit_id,
            "timeout_s": timeout,
            "retries": retries,
        },
    }


@dataclass
class AgentProcess:
    config: Path
    state: Path
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    str(Path(sys.executable).parent / "peakline-edge"),
                    "run",
                    "--config",
                    str(self.config),
                    "--agent",
                    "gw1",
                    "--state-dir",
                    str(self.state),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    async def terminate(self, timeout_s: float = 30.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return await asyncio.to_thread(self.proc.wait, timeout_s)

    def stop_quietly(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@dataclass
class Collector:
    """Telemetry received by a QoS 1 subscriber whose session survives broker restarts."""

    host: str
    port: int
    prefix: str
    batches: list[TelemetryBatch] = field(default_factory=list)
    connected: asyncio.Event = field(default_factory=asyncio.Event)

    async def run(self) -> None:
        while True:
            try:
                async with aiomqtt.Client(
                    self.host, self.port, identifier=f"c-{self.prefix}", clean_session=False
                ) as client:
                    await client.subscribe(f"{self.prefix}/v1/tele/#", qos=1)
                    self.connected.set()
                    async for message in client.messages:
                        assert isinstance(message.payload, bytes)
                        self.batches.append(decode_telemetry(message.payload))
            except aiomqtt.MqttError:
                self.connected.clear()
                await asyncio.sleep(0.2)  # reconnect backoff

    def of(self, device: str) -> list[TelemetryBatch]:
        return [b for b in self.batches if b.device == device]
