"""A throwaway Ethernet segment of Linux network namespaces, so broadcasts travel as on a real
subnet (loopback has no broadcast between 127.x addresses): a hub namespace holding a bridge
with the first host address, and one namespace per further host, each joined to the bridge by
a veth pair. With `remote=True` the hub also routes to a second /24 holding one namespace
(`lan.remote`, 192.168.48.2): a host on another subnet, which broadcasts cannot reach.
Needs root (CAP_NET_ADMIN); `NetnsRefused` when `ip netns add` is refused.

    with Lan.create(hosts=3) as lan:      # 192.168.47.1 in lan.hub, .11 .. .13 in lan.hosts
        lan.popen(lan.hosts[0], [sys.executable, "-c", ...])
"""

from __future__ import annotations

import os
import secrets
import subprocess
from dataclasses import dataclass, field
from types import TracebackType
from typing import Self


class NetnsRefused(RuntimeError):
    """`ip netns add` was refused (not root, no CAP_NET_ADMIN): the caller may skip."""


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, text=True)


@dataclass
class Lan:
    """A /24 in namespaces: `hub` (bridge, `hub_address`) and `hosts` (namespace, address)."""

    prefix: str  # "192.168.47": the /24's first three octets
    hub: str
    hosts: list[tuple[str, str]] = field(default_factory=list)
    remote: tuple[str, str] | None = None  # (namespace, address) on the routed second /24
    _procs: list[subprocess.Popen[str]] = field(default_factory=list)

    @property
    def hub_address(self) -> str:
        return f"{self.prefix}.1"

    @property
    def broadcast(self) -> str:
        return f"{self.prefix}.255"

    @classmethod
    def create(
        cls,
        hosts: int,
        prefix: str = "192.168.47",
        *,
        remote: bool = False,
        remote_prefix: str = "192.168.48",
    ) -> Lan:
        tag = secrets.token_hex(3)  # namespaces are global names: unique per run
        hub = f"pl-hub-{tag}"
        done = subprocess.run(["ip", "netns", "add", hub], capture_output=True, text=True)
        if done.returncode != 0:
            raise NetnsRefused(f"ip netns add: {done.stderr.strip()}")
        lan = cls(prefix, hub)
        try:
            _ip("-n", hub, "link", "set", "lo", "up")
            _ip("-n", hub, "link", "add", "br0", "type", "bridge")
            _ip("-n", hub, "addr", "add", f"{lan.hub_address}/24", "brd", "+", "dev", "br0")
            _ip("-n", hub, "link", "set", "br0", "up")
            for n in range(1, hosts + 1):
                ns, address = f"pl-h{n}-{tag}", f"{prefix}.{10 + n}"
                _ip("netns", "add", ns)
                lan.hosts.append((ns, address))
                _ip("-n", ns, "link", "set", "lo", "up")
                _ip("-n", hub, "link", "add", f"h{n}", "type", "veth", "peer", "eth0", "netns", ns)
                _ip("-n", hub, "link", "set", f"h{n}", "master", "br0", "up")
                _ip("-n", ns, "addr", "add", f"{address}/24", "brd", "+", "dev", "eth0")
                _ip("-n", ns, "link", "set", "eth0", "up")
                _ip("-n", ns, "route", "add", "default", "via", lan.hub_address)
            if remote:
                lan._add_remote(tag, remote_prefix)
        except BaseException:
            lan.close()
            raise
        return lan

    def _add_remote(self, tag: str, prefix: str) -> None:
        ns, address = f"pl-r-{tag}", f"{prefix}.2"
        _ip("netns", "add", ns)
        self.remote = (ns, address)
        _ip("-n", ns, "link", "set", "lo", "up")
        _ip("-n", self.hub, "link", "add", "r0", "type", "veth", "peer", "eth0", "netns", ns)
        _ip("-n", self.hub, "addr", "add", f"{prefix}.1/24", "brd", "+", "dev", "r0")
        _ip("-n", self.hub, "link", "set", "r0", "up")
        _ip("-n", ns, "addr", "add", f"{address}/24", "brd", "+", "dev", "eth0")
        _ip("-n", ns, "link", "set", "eth0", "up")
        _ip("-n", ns, "route", "add", "default", "via", f"{prefix}.1")
        subprocess.run(
            ["ip", "netns", "exec", self.hub, "sysctl", "-qw", "net.ipv4.ip_forward=1"],
            check=True,
            capture_output=True,
        )

    def popen(self, ns: str, argv: list[str]) -> subprocess.Popen[str]:
        """Start `argv` inside namespace `ns` (stdin a pipe: closing it asks it to stop); it is
        killed on close if still running."""
        proc = subprocess.Popen(
            ["ip", "netns", "exec", ns, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=os.environ.copy(),
        )
        self._procs.append(proc)
        return proc

    def run(
        self, ns: str, argv: list[str], timeout_s: float = 60.0
    ) -> subprocess.CompletedProcess[str]:
        """Run `argv` inside namespace `ns` to completion."""
        return subprocess.run(
            ["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=timeout_s
        )

    def udp_listening(self, ns: str) -> set[str]:
        """Every UDP socket bound in namespace `ns`, as "addr:port"."""
        out = self.run(ns, ["ss", "-H", "-u", "-l", "-n"]).stdout
        return {line.split()[3] for line in out.splitlines() if len(line.split()) > 3}

    def close(self) -> None:
        """Stop the processes started here and delete every namespace (veths and the bridge go
        with them)."""
        try:
            for proc in self._procs:
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
                for pipe in (proc.stdin, proc.stdout, proc.stderr):
                    if pipe is not None:
                        pipe.close()
        finally:
            self._delete_namespaces()

    def _delete_namespaces(self) -> None:
        remote = [self.remote[0]] if self.remote else []
        for ns in [self.hub, *(ns for ns, _ in self.hosts), *remote]:
            subprocess.run(["ip", "netns", "del", ns], capture_output=True)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
