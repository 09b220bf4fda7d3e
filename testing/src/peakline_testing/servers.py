"""Throwaway local servers for tests and benchmarks: mosquitto, influxd, PostgreSQL, an nginx
reverse proxy and socat pseudo-terminal pairs, each on free loopback ports with its own
temporary directory.

Never the system services, never fixed ports. Each server can be stopped, killed and started
again on the same port (outage tests), and is waited for with a deadline, not a sleep.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from peakline_core.errors import PeaklineError
from peakline_testing.waiting import wait_until


class ServerError(PeaklineError, RuntimeError):
    """A local server could not be found, started or reached in time."""


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago on `host`."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _wait(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    wait_until(condition, timeout_s, what, error=ServerError)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def find_binary(name: str, *extra_dirs: str) -> str:
    """Path of an installed program, or ServerError saying which Debian package provides it."""
    path = shutil.which(name) or next(
        (str(Path(d) / name) for d in extra_dirs if (Path(d) / name).exists()), None
    )
    if path is None:
        raise ServerError(f"{name} is not installed (apt-get install {_PACKAGE.get(name, name)})")
    return path


_PACKAGE = {
    "mosquitto": "mosquitto",
    "influxd": "influxdb",
    "nginx": "nginx-light",
    "socat": "socat",
    "mbpoll": "mbpoll",
    "initdb": "postgresql",
    "postgres": "postgresql",
}


@dataclass
class _Process:
    """A child process with a log file, restartable with the same command."""

    name: str
    workdir: Path
    host: str = "127.0.0.1"
    port: int = 0
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _owns_dir: bool = field(default=False, repr=False)

    def command(self) -> list[str]:  # pragma: no cover - overridden
        raise NotImplementedError

    def ready(self) -> bool:
        return _port_open(self.host, self.port)

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.name}.log"

    def start(self, timeout_s: float = 30.0) -> None:
        if self.running:
            return
        log = open(self.log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
        self.proc = subprocess.Popen(
            self.command(),
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.workdir,
            start_new_session=True,
        )
        log.close()
        try:
            _wait(lambda: self.ready() or not self.running, timeout_s, f"{self.name} ready")
        except ServerError:
            self.stop()
            raise ServerError(f"{self.name} did not start: {self.log_tail()}") from None
        if not self.running:
            raise ServerError(f"{self.name} exited at start: {self.log_tail()}")

    def stop(self, timeout_s: float = 15.0) -> None:
        """Stop gracefully (SIGTERM), killing after the deadline."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        _wait(lambda: not _port_open(self.host, self.port), timeout_s, f"{self.name} down")

    def kill(self) -> None:
        """SIGKILL: no chance to flush."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "<no log>"

    def close(self) -> None:
        self.stop()
        if self._owns_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


@dataclass
class Mosquitto(_Process):
    """A mosquitto 2 broker on a free loopback port, persistence in its own directory."""

    extra_config: str = ""

    @classmethod
    def create(cls, workdir: Path | None = None, extra_config: str = "", **kw: int) -> Mosquitto:
        owns = workdir is None
        path = Path(workdir or tempfile.mkdtemp(prefix="peakline-mosquitto-"))
        path.mkdir(parents=True, exist_ok=True)
        server = cls(
            name="mosquitto",
            workdir=path,
            port=kw.get("port") or free_port(),
            extra_config=extra_config,
        )
        server._owns_dir = owns
        return server

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    @property
    def config_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    def command(self) -> list[str]:
        listener = (
            ""
            if "listener " in self.extra_config
            else (f"listener {self.port} {self.host}\nallow_anonymous true\n")
        )
        self.config_path.write_text(
            f"{listener}"
            f"user {getpass.getuser()}\n"
            f"persistence true\n"
            f"persistence_location {self.workdir}/\n"
            # Tests hold QoS 1 sessions across outages: never drop queued messages silently.
            "max_queued_messages 0\n"
            "max_inflight_messages 0\n"
            "log_dest stderr\n"
            "log_type error\nlog_type warning\nlog_type notice\n"
            f"{self.extra_config}\n"
        )
        return [find_binary("mosquitto", "/usr/sbin"), "-c", str(self.config_path)]


@dataclass
class Influxd(_Process):
    """An InfluxDB 1.x `influxd` on free loopback ports with its own data directories."""

    rpc_port: int = 0
    max_row_limit: int = 0  # [http] max-row-limit: 0 answers every row

    @classmethod
    def create(cls, workdir: Path | None = None, *, max_row_limit: int = 0) -> Influxd:
        owns = workdir is None
        path = Path(workdir or tempfile.mkdtemp(prefix="peakline-influxd-"))
        path.mkdir(parents=True, exist_ok=True)
        server = cls(
            name="influxd",
            workdir=path,
            port=free_port(),
            rpc_port=free_port(),
            max_row_limit=max_row_limit,
        )
        server._owns_dir = owns
        return server

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ping", timeout=0.5) as resp:
                return int(resp.status) == 204
        except (urllib.error.URLError, OSError):
            return False

    def command(self) -> list[str]:
        cfg = self.workdir / "influxdb.conf"
        cfg.write_text(
            "reporting-disabled = true\n"
            f'bind-address = "{self.host}:{self.rpc_port}"\n'
            f'[meta]\n  dir = "{self.workdir}/meta"\n  logging-enabled = false\n'
            f'[data]\n  dir = "{self.workdir}/data"\n  wal-dir = "{self.workdir}/wal"\n'
            "  query-log-enabled = false\n  trace-logging-enabled = false\n"
            "[monitor]\n  store-enabled = false\n"
            "[subscriber]\n  enabled = false\n"
            f'[http]\n  enabled = true\n  bind-address = "{self.host}:{self.port}"\n'
            "  log-enabled = false\n  max-body-size = 0\n  max-concurrent-write-limit = 0\n"
            f"  max-row-limit = {self.max_row_limit}\n"
            "[continuous_queries]\n  enabled = false\n"
        )
        return [find_binary("influxd"), "-config", str(cfg)]

    def query(self, q: str, db: str | None = None) -> dict[str, object]:
        """Run an InfluxQL statement over HTTP (POST), returning the decoded JSON."""
        import json
        from urllib.parse import urlencode

        params = {"q": q} | ({"db": db} if db else {})
        req = urllib.request.Request(
            f"{self.url}/query", data=urlencode(params).encode(), method="POST"
        )
        with urllib.request.urlopen(req, timeout=30) as resp:
            result: dict[str, object] = json.loads(resp.read())
        return result


def _postgres_bindir() -> str:
    """Debian keeps initdb and postgres off PATH, in /usr/lib/postgresql/<major>/bin."""
    dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda d: int(d.parent.name))
    return str(dirs[-1]) if dirs else "/usr/lib/postgresql/bin"


@dataclass
class Postgres(_Process):
    """A PostgreSQL server (Debian's `postgresql`) on a free loopback port, its cluster in its
    own temporary directory, superuser `peakline` with a password (scram-sha-256 over TCP, no
    Unix socket).

    PostgreSQL refuses to run as root: under root, initdb and postgres run as `nobody` through
    `setpriv` (util-linux: no shell, no PAM session, nothing left behind) and the directory is
    handed to that user; under any other user they run as that user.
    """

    user: str = "peakline"
    password: str = field(default_factory=lambda: os.urandom(12).hex())

    @classmethod
    def create(cls, workdir: Path | None = None) -> Postgres:
        owns = workdir is None
        path = Path(workdir or tempfile.mkdtemp(prefix="peakline-postgres-"))
        path.mkdir(parents=True, exist_ok=True)
        server = cls(name="postgres", workdir=path, port=free_port())
        server._owns_dir = owns
        return server

    @property
    def datadir(self) -> Path:
        return self.workdir / "data"

    @property
    def password_file(self) -> Path:
        """The password alone in a file (what `--state-url` deployments point at)."""
        return self.workdir / "password"

    def url(self, database: str = "postgres", *, with_password: bool = True) -> str:
        secret = f":{self.password}" if with_password else ""
        return f"postgresql://{self.user}{secret}@{self.host}:{self.port}/{database}"

    def _as_owner(self, argv: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return argv
        return ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "--", *argv]

    def _initdb(self) -> None:
        bindir = _postgres_bindir()
        initdb = find_binary("initdb", bindir)
        self.password_file.write_text(self.password + "\n")
        if os.geteuid() == 0:
            for p in (self.workdir, self.password_file):
                os.chown(p, 65534, 65534)
        argv = [
            initdb,
            "-D", str(self.datadir), "-U", self.user,
            f"--pwfile={self.password_file}", "--auth=scram-sha-256",
            "-E", "UTF8", "--locale=C.UTF-8", "--no-sync",
        ]  # fmt: skip
        result = subprocess.run(
            self._as_owner(argv),
            capture_output=True,
            cwd=self.workdir,
            check=False,
        )
        if result.returncode != 0:
            raise ServerError(f"initdb failed: {result.stderr.decode(errors='replace')[-2000:]}")

    def command(self) -> list[str]:
        if not (self.datadir / "PG_VERSION").exists():
            self._initdb()
        postgres = find_binary("postgres", _postgres_bindir())
        argv = [
            postgres,
            "-D", str(self.datadir),
            "-c", f"listen_addresses={self.host}", "-c", f"port={self.port}",
            "-c", "unix_socket_directories=", "-c", "fsync=off",
            "-c", "max_connections=200", "-c", "logging_collector=off",
        ]  # fmt: skip
        return self._as_owner(argv)

    def ready(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self.url(), connect_timeout=1):
                return True
        except psycopg.OperationalError:
            return False

    def stop(self, timeout_s: float = 15.0) -> None:
        """Fast shutdown (SIGINT: clients are disconnected; SIGTERM would wait for them)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout_s)
        super().stop(timeout_s)

    def create_database(self, name: str) -> str:
        """A fresh, empty database; returns its URL (with the password)."""
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@dataclass
class Nginx(_Process):
    """nginx in the foreground as an HTTP reverse proxy on a free loopback port: one upstream
    of `backends` (host:port), round robin, its pid, logs and temp files in its own directory.
    Each answer carries the backend that served it in `X-Upstream` (tests check the spread)."""

    backends: tuple[str, ...] = ()

    @classmethod
    def create(cls, backends: list[str], workdir: Path | None = None) -> Nginx:
        owns = workdir is None
        path = Path(workdir or tempfile.mkdtemp(prefix="peakline-nginx-"))
        path.mkdir(parents=True, exist_ok=True)
        server = cls(name="nginx", workdir=path, port=free_port(), backends=tuple(backends))
        server._owns_dir = owns
        return server

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def command(self) -> list[str]:
        d = self.workdir
        temp = "".join(
            f"  {kind}_temp_path {d}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        servers = "".join(f"    server {b} max_fails=0;\n" for b in self.backends)
        cfg = d / "nginx.conf"
        cfg.write_text(
            "daemon off;\n"
            "worker_processes 1;\n"
            f"pid {d}/nginx.pid;\n"
            "error_log stderr notice;\n"
            + (f"user {getpass.getuser()};\n" if os.geteuid() == 0 else "")
            + "events { worker_connections 512; }\n"
            "http {\n"
            "  access_log off;\n"
            f"{temp}"
            f"  upstream api {{\n{servers}    keepalive 16;\n  }}\n"
            "  server {\n"
            f"    listen {self.host}:{self.port};\n"
            "    location / {\n"
            "      proxy_pass http://api;\n"
            "      proxy_http_version 1.1;\n"
            '      proxy_set_header Connection "";\n'
            "      proxy_set_header Host $host;\n"
            "      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
            "      add_header X-Upstream $upstream_addr always;\n"
            "    }\n"
            "  }\n"
            "}\n"
        )
        # -e: the error log before the config is read, else the packaged /var/log/nginx one.
        return [find_binary("nginx", "/usr/sbin"), "-p", f"{d}/", "-e", "stderr", "-c", str(cfg)]


@dataclass
class SerialPair:
    """Two pseudo-terminals joined by socat: a Modbus RTU line without hardware."""

    workdir: Path
    proc: subprocess.Popen[bytes] | None = None

    @property
    def a(self) -> str:
        return str(self.workdir / "ttyA")

    @property
    def b(self) -> str:
        return str(self.workdir / "ttyB")

    @classmethod
    def create(cls) -> SerialPair:
        return cls(workdir=Path(tempfile.mkdtemp(prefix="peakline-serial-")))

    def start(self, timeout_s: float = 10.0) -> None:
        self.proc = subprocess.Popen(
            [
                find_binary("socat"),
                "-d",
                "-d",
                f"pty,raw,echo=0,link={self.a}",
                f"pty,raw,echo=0,link={self.b}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        _wait(lambda: os.path.exists(self.a) and os.path.exists(self.b), timeout_s, "socat ptys")

    def close(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(10)
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
