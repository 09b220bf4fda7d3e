"""The write path's HTTP/1.1 poster against a small scripted server on loopback."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from peakline_store.httpwrite import HttpPoster, PostFailed
from peakline_testing.servers import free_port

Reply = Callable[[int, bytes, bytes], bytes | None]  # (request no., head, body) -> raw answer


@asynccontextmanager
async def server(reply: Reply) -> AsyncIterator[tuple[str, list[tuple[bytes, bytes]]]]:
    """Answers each request with `reply(...)`; None closes the connection unanswered, and
    so does an HTTP/1.0 answer once sent."""
    seen: list[tuple[bytes, bytes]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                body = await reader.readexactly(length)
                seen.append((head, body))
                answer = reply(len(seen), head, body)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if answer.startswith(b"HTTP/1.0"):
                    break  # its body ends with the connection
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    srv = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = srv.sockets[0].getsockname()[1]
    async with srv:
        yield f"http://127.0.0.1:{port}/prefix/", seen


async def test_statuses_bodies_and_kept_connections() -> None:
    answers = [
        b"HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n",
        b"HTTP/1.1 400 Bad Request\r\nContent-Length: 5\r\n\r\nbad l",
        b"HTTP/1.1 503 Busy\r\nTransfer-Encoding: chunked\r\nRetry-After: 7\r\n\r\n"
        b"3\r\nabc\r\n2;x=y\r\nde\r\n0\r\nTrailer: t\r\n\r\n",
        b"HTTP/1.0 500 Old\r\n\r\nuntil close",
    ]
    async with server(lambda i, head, body: answers[i - 1] if i <= len(answers) else None) as (
        url,
        seen,
    ):
        poster = HttpPoster(url, {"Authorization": "Token t"})
        got = [await poster.post("/write?db=x", b"m v=%d 1\n" % i) for i in range(4)]
        await poster.aclose()
    assert [(a.status, a.body) for a in got] == [
        (204, b""), (400, b"bad l"), (503, b"abcde"), (500, b"until close"),
    ]  # fmt: skip
    assert got[2].retry_after_s == 7.0 and got[0].retry_after_s is None
    assert got[0].headers["x-a"] == "1"
    head, body = seen[0]
    assert head.startswith(b"POST /prefix/write?db=x HTTP/1.1\r\n") and body == b"m v=0 1\n"
    assert b"Authorization: Token t\r\n" in head and b"Content-Length: 8\r\n" in head


async def test_a_connection_closed_while_idle_is_replaced_once() -> None:
    ok = b"HTTP/1.1 204 No Content\r\n\r\n"
    # Request 2 arrives on the kept connection and is dropped unanswered (the server had
    # closed it); the poster sends it again on a new connection, which answers.
    async with server(lambda i, head, body: None if i == 2 else ok) as (url, seen):
        poster = HttpPoster(url)
        assert (await poster.post("/w", b"a")).status == 204
        assert (await poster.post("/w", b"b")).status == 204
        await poster.aclose()
    assert [body for _, body in seen] == [b"a", b"b", b"b"]


async def test_no_answer_is_post_failed() -> None:
    async with server(lambda i, head, body: None) as (url, _):
        with pytest.raises(PostFailed, match="closed"):
            await HttpPoster(url).post("/w", b"x")
    async with server(lambda i, head, body: b"nonsense\r\n\r\n") as (url, _):
        with pytest.raises(PostFailed, match="not an HTTP"):
            await HttpPoster(url).post("/w", b"x")
    async with server(lambda i, head, body: b"HTTP/1.0 200 OK\r\nContent-Length: 99\r\n\r\nab") as (
        url,
        _,
    ):
        with pytest.raises(PostFailed, match="IncompleteRead"):  # closed inside the body
            await HttpPoster(url, timeout_s=10).post("/w", b"x")
    with pytest.raises(PostFailed):
        await HttpPoster(f"http://127.0.0.1:{free_port()}").post("/w", b"x")


async def test_a_server_that_never_answers_times_out() -> None:
    hold = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await hold.wait()
        writer.close()

    srv = await asyncio.start_server(silent, "127.0.0.1", 0)
    async with srv:
        poster = HttpPoster(f"http://127.0.0.1:{srv.sockets[0].getsockname()[1]}", timeout_s=0.2)
        with pytest.raises(PostFailed, match="no answer"):
            await poster.post("/w", b"x")
        hold.set()
