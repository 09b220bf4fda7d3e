"""Waiting on a condition with a deadline instead of sleeping: `eventually` in async code,
`wait_until` where the caller blocks (server start-up, synchronous tests and benchmarks)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable


class WaitTimeout(AssertionError):
    """A condition did not hold before its deadline (an AssertionError: a test failure)."""


async def eventually(
    check: Callable[[], bool | Awaitable[bool]],
    timeout_s: float,
    what: str,
    *,
    every_s: float = 0.05,
    in_thread: bool = False,
) -> None:
    """Re-check `check` every `every_s` seconds until it holds; WaitTimeout naming `what` after
    `timeout_s` seconds. `check` may be a plain or an async callable; `in_thread` runs a plain
    one in a worker thread (it may block, e.g. on HTTP)."""
    deadline = time.monotonic() + timeout_s
    while True:
        result = await asyncio.to_thread(check) if in_thread else check()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise WaitTimeout(f"timed out after {timeout_s}s waiting for {what}")
        await asyncio.sleep(every_s)  # re-check interval, not a synchronisation


def wait_until(
    condition: Callable[[], bool],
    timeout_s: float,
    what: str,
    *,
    error: type[Exception] = WaitTimeout,
) -> None:
    """Block, re-checking `condition` with a backoff from 10 ms to 200 ms, until it holds;
    `error` naming `what` after `timeout_s` seconds."""
    deadline = time.monotonic() + timeout_s
    delay = 0.01
    while not condition():
        if time.monotonic() > deadline:
            raise error(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(delay)
        delay = min(delay * 2, 0.2)
