"""Broker URLs: `mqtt://[user[:password]@]host[:port]` or `mqtts://...` (TLS, default 8883).

One parser for every service, so credentials and TLS in a URL mean the same thing everywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from urllib.parse import unquote, urlsplit

from peakline_core.errors import PeaklineError


class BrokerUrlError(PeaklineError, ValueError):
    """A broker URL that is not mqtt:// or mqtts:// with a host."""


_PASSWORD = re.compile(r"(?<=://)([^/@:]*):[^/@]*@")


def redact_url(url: str) -> str:
    """`url` with any password replaced by `***`, for error messages and logs."""
    return _PASSWORD.sub(r"\1:***@", url)


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    host: str
    port: int
    tls: bool = False
    username: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        """Parse a broker URL; raises BrokerUrlError naming what is wrong."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise BrokerUrlError(f"invalid broker URL {redact_url(url)!r}: {exc}") from None
        if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
            raise BrokerUrlError(
                f"broker URL must be mqtt://host:port or mqtts://..., got {redact_url(url)!r}"
            )
        tls = parts.scheme == "mqtts"
        return cls(
            host=parts.hostname,
            port=port or (8883 if tls else 1883),
            tls=tls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )

    def with_login(self, username: str | None, password: str | None) -> BrokerAddress:
        """The same address with a login given outside the URL (e.g. a password file)."""
        return replace(self, username=username or self.username, password=password or self.password)

    def __str__(self) -> str:
        user = f"{self.username}@" if self.username else ""  # never print the password
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}"
