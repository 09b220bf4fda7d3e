"""Shared by the browser tests: Debian's Chromium under Playwright, a signed-in dashboard page,
and `peakline demo` run as a subprocess the way a new user starts it.

Never downloads a browser: Playwright drives /usr/bin/chromium. Screenshots go to
tests/browser/artifacts/ (ignored by git through tests/browser/.gitignore).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import shutil
import signal
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from importlib.resources import files
from pathlib import Path
from typing import Any

from peakline_testing.servers import free_port

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@contextlib.asynccontextmanager
async def browser_page(url: str, token: str) -> AsyncIterator[Any]:
    """A headless Chromium page on the dashboard at `url`, in English, signed in with API key
    `token`. On a clean exit, asserts the page raised no JavaScript errors."""
    async with chromium() as browser, signed_in(browser, url, token, "en") as page:
        yield page


@dataclass
class RunningDemo:
    """A `peakline demo` subprocess: its API base URL, the admin key it printed, its output."""

    proc: asyncio.subprocess.Process
    url: str = ""
    api_key: str = ""
    lines: list[str] = field(default_factory=list)
    state_dir: Path = Path()
    reader: asyncio.Task[None] | None = None

    async def stop(self) -> int:
        """SIGINT, as Ctrl-C; wait for the demo to exit (killed after 90 s) and for the rest of
        its output. Returns its exit code."""
        if self.proc.returncode is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                await asyncio.wait_for(self.proc.wait(), 90)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        if self.reader is not None and not self.reader.done():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.reader, 10)
            self.reader.cancel()
        assert self.proc.returncode is not None
        return self.proc.returncode

    def output(self) -> str:
        """Everything the demo printed so far, and the tail of its component log."""
        log = self.state_dir / "demo.log"
        tail = "\n".join(log.read_text().splitlines()[-40:]) if log.exists() else "<no log>"
        return "".join(self.lines) + "\n--- demo.log ---\n" + tail


DASHBOARD_LINE = re.compile(r"dashboard: (http://\S+?)/?\s*$")
KEY_LINE = re.compile(r"API key \(paste into the dashboard\): (\S+)")


PORT_TAKEN = "Address already in use"
"""What the demo says when its dashboard port was taken (`cannot listen on ...`)."""


@contextlib.asynccontextmanager
async def demo_process(
    repo_root: Path,
    port: int,
    state_dir: Path,
    *,
    start_timeout_s: float = 60.0,
    extra: tuple[str, ...] = (),
) -> AsyncIterator[RunningDemo]:
    """Start `peakline demo --port PORT` (embedded broker, SQLite store) and yield once it has
    printed its dashboard URL and admin API key (the demo's own announcement, bounded by
    `start_timeout_s`). On exit: SIGINT, then wait for it to stop; `proc.returncode` tells
    how (a test may stop it earlier with `RunningDemo.stop`). The output is drained all along
    so the pipe never fills.

    A port free when the caller chose it can be taken before the demo binds it (another
    test's server, on a shared machine): the demo then says so and stops, and is started
    again on a fresh port with a fresh state directory, twice at most."""
    for attempt in range(3):
        demo = await _start_demo(repo_root, port, state_dir, start_timeout_s, extra)
        if demo.url and demo.api_key:
            break
        taken = PORT_TAKEN in "".join(demo.lines)
        await demo.stop()
        if not taken or attempt == 2:
            raise AssertionError(f"the demo did not announce its dashboard:\n{demo.output()}")
        port = free_port()
        shutil.rmtree(state_dir, ignore_errors=True)
    try:
        yield demo
    finally:
        await demo.stop()


async def _start_demo(
    repo_root: Path, port: int, state_dir: Path, start_timeout_s: float, extra: tuple[str, ...]
) -> RunningDemo:
    """The demo process, once it has announced its dashboard, exited or run `start_timeout_s`
    without announcing (then `url` or `api_key` is empty)."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "peakline_cli.main",
        "demo",
        "--port",
        str(port),
        "--state-dir",
        str(state_dir),
        *extra,
        cwd=repo_root,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    demo = RunningDemo(proc, state_dir=state_dir)
    announced = asyncio.Event()

    async def drain() -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            line = raw.decode(errors="replace")
            demo.lines.append(line)
            if match := DASHBOARD_LINE.search(line):
                demo.url = match[1].rstrip("/")
            if match := KEY_LINE.search(line):
                demo.api_key = match[1]
            if demo.url and demo.api_key:
                announced.set()

    demo.reader = reader = asyncio.create_task(drain())
    waiter = asyncio.create_task(announced.wait())
    try:
        await asyncio.wait(
            [reader, waiter], timeout=start_timeout_s, return_when=asyncio.FIRST_COMPLETED
        )
    except BaseException:
        await demo.stop()
        raise
    finally:
        waiter.cancel()
    return demo


# -- the dashboard's languages (issue 20) ------------------------------------------------

LANGUAGES = ("en", "zh-CN")
CATALOGUES = {
    lang: json.loads(
        (files("peakline_api") / "static" / "i18n" / f"{lang}.json").read_text("utf-8")
    )
    for lang in LANGUAGES
}
# Messages whose English differs from the Chinese: seen in a zh-CN page, they are untranslated.
ENGLISH_ONLY = sorted({v for k, v in CATALOGUES["en"].items() if v != CATALOGUES["zh-CN"][k]})

# Every [data-i18n] element whose text is not its message, and the placeholders likewise.
MISMATCHED = """(catalogue) => {
  const out = [];
  for (const el of document.querySelectorAll("[data-i18n]")) {
    if (el.textContent !== catalogue[el.dataset.i18n]) out.push([el.dataset.i18n, el.textContent]);
  }
  for (const el of document.querySelectorAll("[data-i18n-placeholder]")) {
    const id = el.dataset.i18nPlaceholder;
    if (el.getAttribute("placeholder") !== catalogue[id]) out.push([id, el.placeholder]);
  }
  return out;
}"""

# Visible text nodes (and the selected options of visible selects) equal to one of `values`.
VISIBLE_MATCHES = """(values) => {
  const wanted = new Set(values), found = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  for (let n = walker.nextNode(); n; n = walker.nextNode()) {
    const s = n.textContent.trim(), el = n.parentElement;
    if (!s || !el) continue;
    const box = el.tagName === "OPTION" ? el.closest("select") : el;
    const shown = box.checkVisibility();
    if (shown && wanted.has(s)) found.push(s);
  }
  if (wanted.has(document.title)) found.push(document.title);
  return found;
}"""


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
        try:
            yield browser
        finally:
            await browser.close()


@contextlib.asynccontextmanager
async def signed_in(browser: Any, url: str, token: str, locale: str) -> AsyncIterator[Any]:
    """A page whose browser language is `locale` (navigator.languages and Accept-Language),
    signed in on the overview; asserts no JavaScript error on a clean exit."""
    context = await browser.new_context(locale=locale, viewport={"width": 1400, "height": 900})
    try:
        page = await context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        await page.goto(url + "/dashboard/")
        await page.locator("#lang").wait_for(timeout=15_000)
        await page.fill("#key-input", token)
        await page.click("#key-form button")
        yield page
        assert not errors, errors
    finally:
        await context.close()


async def check_language(page: Any, lang: str) -> None:
    assert await page.evaluate("document.documentElement.lang") == lang
    assert await page.input_value("#lang") == lang
    assert await page.evaluate(MISMATCHED, CATALOGUES[lang]) == []
    if lang == "zh-CN":
        assert await page.evaluate(VISIBLE_MATCHES, ENGLISH_ONLY) == []


async def check_energy_cells(page: Any, http: Any) -> int:
    """The overview's energy-today cells agree with GET /api/v1/overview (httpx client `http`,
    signed in): a figure where there is one, "pending" (with why, on hover) where the meter
    reads but no final energy is derived yet, "no data" where the meter has never read.
    Reloads the page until the API answers the same before and after it (a figure may appear
    between the two). Returns how many sites were pending."""
    for _ in range(5):
        before = (await http.get("/api/v1/overview")).json()
        await page.reload()
        await page.locator("#sites-table tbody tr").first.wait_for(timeout=15_000)
        after = (await http.get("/api/v1/overview")).json()
        if [s["energy_today_kwh"] is None for s in before] == [
            s["energy_today_kwh"] is None for s in after
        ]:
            break
    pending = 0
    for site in after:
        cell = page.locator(f'tr[data-site="{site["id"]}"] td.energy')
        if site["energy_today_kwh"] is not None:
            assert await cell.get_attribute("data-value") is not None, site
        elif site["power_kw"] is not None:
            pending += 1
            assert await cell.inner_text() == "pending", site
            assert "final readings" in (await cell.get_attribute("title") or ""), site
        else:
            assert await cell.inner_text() == "no data", site
    return pending
