"""The hostile input corpora (tests/cases/hostile/): telemetry for ingest (payload, topic, what
ingest must do) and sensor payloads for the edge agent's MQTT source (payload, reject reason or
the readings it must publish)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import yaml

from peakline_core.wire import Topics

HOSTILE = Path(__file__).resolve().parents[2] / "cases" / "hostile"
CORPUS = HOSTILE / "telemetry"
SENSOR_CORPUS = HOSTILE / "sensor"
STORED = "stored"


@dataclass(frozen=True)
class Case:
    name: str
    site: str
    device: str
    payload: bytes
    reason: str  # the dead-letter reason, or STORED
    after: bool  # published once the valid batches are stored

    def topic(self, topics: Topics) -> str:
        # Not Topics.telemetry(): it validates ids, and some cases carry hostile topic segments.
        return f"{topics.root}/tele/{self.site}/{self.device}"


def _payload(entry: dict[str, object], corpus: Path = CORPUS) -> bytes:
    if "file" in entry:
        return (corpus / str(entry["file"])).read_bytes()
    if "payload" in entry:
        return str(entry["payload"]).encode()
    parts = entry["generate"]
    assert isinstance(parts, list)
    return b"".join(str(text).encode() * int(times) for text, times in parts)


def load_cases() -> list[Case]:
    """Every case of the manifest, payloads read or generated."""
    manifest = yaml.safe_load((CORPUS / "manifest.yaml").read_text())
    cases = []
    for entry in manifest["cases"]:
        site, device = entry.get("topic", ["s1", "m1"])
        name = entry.get("name") or Path(entry["file"]).stem
        cases.append(
            Case(
                name,
                site,
                device,
                _payload(entry),
                entry["reason"],
                entry.get("phase") == "after",
            )
        )
    return cases


def expected_rejects(cases: list[Case], copies: int) -> Counter[str]:
    """Rejections per reason when every case is published `copies` times."""
    return Counter({c.reason: 0 for c in cases if c.reason != STORED}) + Counter(
        c.reason for c in cases for _ in range(copies) if c.reason != STORED
    )


@dataclass(frozen=True)
class SensorCase:
    name: str
    payload: bytes
    reason: str | None  # counted rejection; None: accepted
    expect: dict[str, object]  # point -> value published (None: an `error` reading)


def load_sensor_cases() -> list[SensorCase]:
    manifest = yaml.safe_load((SENSOR_CORPUS / "manifest.yaml").read_text())
    return [
        SensorCase(
            str(entry.get("name") or Path(entry["file"]).stem),
            _payload(entry, SENSOR_CORPUS),
            entry.get("reason"),
            entry.get("expect") or {},
        )
        for entry in manifest["cases"]
    ]
