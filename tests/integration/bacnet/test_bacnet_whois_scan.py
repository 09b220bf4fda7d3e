"""`peakline bacnet scan` on a real broadcast subnet: Linux network namespaces joined by a
bridge (peakline_testing.netns), three firmware-sim BACnet devices (two air handlers and a
chiller plant), each in its own namespace on the standard port 47808, and the scan run from the
bridge's namespace on the same /24. The global Who-Is is a broadcast to 192.168.47.255 that
every device hears; each answers with an I-Am. A ranged Who-Is wakes only the devices in range,
and `-o DIR` writes one profile per device through the unicast discovery. From a second,
routed /24 a broadcast reaches nobody, until the scan registers as a foreign device with a
bacpypes3 BBMD on the devices' subnet, which forwards it there."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from firmware_sim.bacnet import AirHandler, ChillerPlant
from peakline_testing.netns import Lan, NetnsRefused
from peakline_testing.waiting import wait_until

pytestmark = pytest.mark.timeout(120)

# one simulated device in its namespace: prints what its device object will say in an I-Am,
# then serves until its stdin closes
DEVICE = """
import asyncio, sys
from firmware_sim.bacnet import AirHandler, ChillerPlant, serve_bacnet

async def main() -> None:
    kind, instance, name, host = sys.argv[1:]
    device = (AirHandler if kind == "ahu" else ChillerPlant)(int(instance), name)
    async with serve_bacnet(device, host, prefix=24) as app:
        d = app.device_object
        print(d.vendorIdentifier, d.maxApduLengthAccepted, d.segmentationSupported, flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

asyncio.run(main())
"""
# a BBMD (itself a device, 990) whose broadcast distribution table holds itself, so it
# re-broadcasts foreign devices' broadcasts on its subnet
BBMD = """
import asyncio, sys
from bacpypes3.app import Application
from bacpypes3.argparse import SimpleArgumentParser

async def main() -> None:
    address = sys.argv[1]
    argv = ["--address", f"{address}/24:47808", "--instance", "990", "--bbmd", f"{address}:47808"]
    app = Application.from_args(SimpleArgumentParser().parse_args(argv))
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
    app.close()

asyncio.run(main())
"""
BBMD_INSTANCE = 990
DEVICES = [("ahu", 1001, "ahu-1"), ("ahu", 1002, "ahu-2"), ("chiller", 2001, "chiller-1")]


@dataclass
class Site:
    lan: Lan
    devices: dict[int, tuple[str, str]]  # instance: (kind, address)
    i_am: dict[int, tuple[int, int, str]]  # instance: (vendor id, max APDU, segmentation)

    def scan(self, *args: str, ns: str = "", bind: str = "") -> subprocess.CompletedProcess[str]:
        """`peakline bacnet scan` in namespace `ns` (the hub's by default, on the devices' /24)."""
        bind = bind or f"{self.lan.hub_address}/24:47808"
        argv = [sys.executable, "-m", "peakline_cli.main", "bacnet", "scan", "--bind", bind]
        return self.lan.run(ns or self.lan.hub, [*argv, "--timeout", "2", *args])


@pytest.fixture(scope="module")
def site() -> Iterator[Site]:
    try:
        lan = Lan.create(hosts=len(DEVICES) + 1, remote=True)  # the last host: the BBMD
    except NetnsRefused as exc:
        pytest.skip(f"network namespaces refused (needs root / CAP_NET_ADMIN): {exc}")
    with lan:
        devices, i_am = {}, {}
        for (ns, address), (kind, instance, name) in zip(lan.hosts, DEVICES, strict=False):
            proc = lan.popen(ns, [sys.executable, "-c", DEVICE, kind, str(instance), name, address])
            assert proc.stdout is not None
            line = proc.stdout.readline().split()
            assert len(line) == 3, proc.stderr.read() if proc.stderr else line
            i_am[instance] = (int(line[0]), int(line[1]), line[2])
            devices[instance] = (kind, address)
            # ready when both its unicast and its broadcast sockets are bound
            want = {f"{address}:47808", f"{lan.broadcast}:47808"}
            wait_until(lambda ns=ns, want=want: want <= lan.udp_listening(ns), 30, f"{name} bound")
        yield Site(lan, devices, i_am)


def test_global_who_is_finds_every_device_on_the_subnet(site: Site) -> None:
    done = site.scan("--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert {r["instance"]: r["address"] for r in rows} == {
        n: address for n, (_, address) in site.devices.items()
    }
    for r in rows:
        assert (r["vendor_id"], r["max_apdu"], r["segmentation"]) == site.i_am[r["instance"]]


def test_ranged_who_is_wakes_only_the_devices_in_range(site: Site) -> None:
    done = site.scan("--json", "--low", "1000", "--high", "1999")
    assert done.returncode == 0, done.stderr
    assert [r["instance"] for r in json.loads(done.stdout)] == [1001, 1002]


def test_scan_table_lists_the_devices(site: Site) -> None:
    done = site.scan()
    assert done.returncode == 0, done.stderr
    out = done.stdout
    for n, (_, address) in site.devices.items():
        assert any(str(n) in line and address in line for line in out.splitlines()), out
    assert "3 device(s) answered" in out


async def served_names(kind: str, instance: int) -> set[str]:
    """Every object the simulated device serves, as the namespace's device was built (in an
    event loop: bacpypes3 objects schedule their set-up on it)."""
    served = (AirHandler if kind == "ahu" else ChillerPlant)(instance, "x").build()
    return {str(o.objectName) for o in served}


def test_scan_writes_one_profile_per_device(site: Site, tmp_path: Path) -> None:
    done = site.scan("--json", "-o", str(tmp_path))
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "bacnet-1001.yaml", "bacnet-1002.yaml", "bacnet-2001.yaml"
    ]  # fmt: skip
    for r in rows:
        path = Path(r["profile"])
        profile = yaml.safe_load(path.read_text())
        names = {p["name"] for p in profile["points"]}
        kind, address = site.devices[r["instance"]]
        assert names == asyncio.run(served_names(kind, r["instance"]))
        assert f"from device {r['instance']} at {address}" in path.read_text()


def test_foreign_device_scan_reaches_the_subnet_through_the_bbmd(site: Site) -> None:
    assert site.lan.remote is not None
    remote_ns, remote = site.lan.remote
    bbmd_ns, bbmd = site.lan.hosts[len(DEVICES)]
    proc = site.lan.popen(bbmd_ns, [sys.executable, "-c", BBMD, bbmd])
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
        want = {f"{bbmd}:47808", f"{site.lan.broadcast}:47808"}
        wait_until(lambda: want <= site.lan.udp_listening(bbmd_ns), 30, "the BBMD bound")
        far = {"ns": remote_ns, "bind": f"{remote}/24:47808"}
        alone = site.scan("--json", **far)  # a broadcast does not cross the router
        assert alone.returncode == 0, alone.stderr
        assert json.loads(alone.stdout) == []
        done = site.scan("--json", "--foreign", f"{bbmd}:47808", "--ttl", "60", **far)
        assert done.returncode == 0, done.stderr
        found = {r["instance"]: r["address"] for r in json.loads(done.stdout)}
        assert found == {n: address for n, (_, address) in site.devices.items()} | {
            BBMD_INSTANCE: bbmd
        }
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=10)
