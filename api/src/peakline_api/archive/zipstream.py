"""A zip archive written incrementally into byte chunks: no file, no seek, flat memory.

`zipfile` writes to an unseekable stream by itself (each member's sizes and CRC go in a data
descriptor after its data, the central directory at the end), so the stdlib is all it takes;
no third-party zip streamer. The caller writes a member in pieces and takes the bytes made
so far with `take()` after each piece, e.g. to yield them from a StreamingResponse. Each
member's SHA-256 (of its uncompressed bytes) and size are kept for the manifest.
"""

from __future__ import annotations

import hashlib
import zipfile
from dataclasses import dataclass, field
from types import TracebackType
from typing import IO, Self


class _Sink:
    """An append-only byte buffer with no `tell`/`seek` (zipfile then streams)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass


@dataclass
class MemberDigest:
    """What the manifest says of a member: rows (lines of data), bytes and SHA-256."""

    rows: int = 0
    bytes: int = 0
    sha256: str = ""


@dataclass
class MemberWriter:
    """`with archive.member(name) as m: m.write(data, rows)`."""

    stream: IO[bytes]
    digest: MemberDigest
    _hash: hashlib._Hash = field(default_factory=hashlib.sha256)

    def write(self, data: bytes, rows: int = 0) -> None:
        self.stream.write(data)
        self._hash.update(data)
        self.digest.bytes += len(data)
        self.digest.rows += rows

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stream.close()
        self.digest.sha256 = self._hash.hexdigest()


class ZipStream:
    """Members deflated into an in-memory tail that `take()` empties."""

    def __init__(self, date_time: tuple[int, int, int, int, int, int], level: int = 6) -> None:
        self._sink = _Sink()
        self._zip = zipfile.ZipFile(
            self._sink,  # type: ignore[call-overload]
            "w",
            compression=zipfile.ZIP_DEFLATED,
            compresslevel=level,
        )
        self._date_time = date_time
        self.digests: dict[str, MemberDigest] = {}

    def member(self, name: str) -> MemberWriter:
        info = zipfile.ZipInfo(name, self._date_time)
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o644 << 16
        digest = self.digests[name] = MemberDigest()
        return MemberWriter(self._zip.open(info, "w", force_zip64=True), digest)

    def take(self) -> bytes:
        """The archive's bytes written since the last call."""
        data = b"".join(self._sink.parts)
        self._sink.parts.clear()
        return data

    def close(self) -> bytes:
        """Write the central directory; the last bytes of the archive."""
        self._zip.close()
        return self.take()
