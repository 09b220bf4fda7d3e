"""Regenerate the README's dashboard screenshots from the demo (`make screenshots`).

Starts `peakline demo` on a free port with its week of history (or attaches to a running one
with --url and --key), waits until the overview's city cards have their figures, and saves
the overview, a site page and the programme page in English and Simplified Chinese to
docs/img/ (dashboard.png is the README's). Needs Debian's Chromium (scripts/bootstrap.sh
installs it) and Playwright's Python package (the test extras).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import signal
import socket
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
KEY_LINE = re.compile(r"API key \(paste into the dashboard\): (\S+)")
PAGES = [  # (file stem, dashboard path, selector that shows the page is drawn)
    ("dashboard", "/dashboard/", "#cities .city"),
    ("site", "/dashboard/site.html?site=rt-office", "#daily-energy .day"),
    ("programme", "/dashboard/programme.html", "#benchmark-table tbody tr"),
]
LANGUAGES = {"en": "", "zh-CN": "-zh-CN"}
_BACKGROUND: set[asyncio.Task[None]] = set()  # the demo's output is read to its end


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def start_demo(port: int, derived: asyncio.Event) -> tuple[asyncio.subprocess.Process, str]:
    """`peakline demo` as a user runs it; returns the process and the key it printed."""
    proc = await asyncio.create_subprocess_exec(
        str(ROOT / ".venv" / "bin" / "peakline"), "demo", "--port", str(port),
        cwd=ROOT, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    assert proc.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = (await asyncio.wait_for(proc.stdout.readline(), 60)).decode(errors="replace")
        if not line:
            break
        if found := KEY_LINE.search(line):
            _BACKGROUND.add(asyncio.create_task(_drain(proc.stdout, derived)))
            return proc, found.group(1)
    proc.send_signal(signal.SIGINT)
    raise SystemExit("the demo printed no API key within 60 s")


async def _drain(stream: asyncio.StreamReader, derived: asyncio.Event) -> None:
    """Read the demo's output to its end; `derived` is set once its status line says the
    history is derived (the city cards' figures appear before the last days are)."""
    while line := await stream.readline():
        if b"history=derived" in line:
            derived.set()


async def wait_for_figures(url: str, key: str, timeout_s: float) -> None:
    """Until every city card has this month's emissions."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        while time.monotonic() < deadline:
            try:
                r = await http.get(
                    "/api/v1/overview/cities", headers={"Authorization": f"Bearer {key}"}
                )
                cities = r.json() if r.status_code == 200 else []
            except httpx.HTTPError:
                cities = []
            if cities and all(c.get("emissions_kgco2e") for c in cities):
                return
            await asyncio.sleep(3)
    raise SystemExit(f"the city cards had no figures after {timeout_s:g} s")


async def shoot(url: str, key: str, out: Path) -> list[Path]:
    from playwright.async_api import async_playwright

    saved = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            for lang, suffix in LANGUAGES.items():
                page = await browser.new_page(viewport={"width": 1360, "height": 900})
                await page.goto(url + "/dashboard/")
                await page.evaluate(f"localStorage.setItem('peakline.lang', '{lang}')")
                await page.fill("#key-input", key)
                await page.click("#key-form button")
                for stem, path, ready in PAGES:
                    await page.goto(url + path)
                    await page.locator(ready).first.wait_for(timeout=30_000)
                    await page.wait_for_timeout(1500)  # let the charts settle
                    target = out / f"{stem}{suffix}.png"
                    await page.screenshot(path=str(target), full_page=True)
                    saved.append(target)
                await page.close()
        finally:
            await browser.close()
    return saved


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", help="a running demo's base URL (default: start one)")
    parser.add_argument("--key", help="its API key (with --url)")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "img")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds to wait for data")
    args = parser.parse_args()
    proc = None
    began = time.monotonic()
    derived = asyncio.Event()
    if args.url:
        if not args.key:
            parser.error("--url needs --key")
        url, key = args.url.rstrip("/"), args.key
    else:
        port = free_port()
        proc, key = await start_demo(port, derived)
        url = f"http://127.0.0.1:{port}"
    try:
        if proc is not None:
            await asyncio.wait_for(derived.wait(), args.timeout)
        await wait_for_figures(url, key, args.timeout)
        if proc is not None:
            took = time.monotonic() - began
            print(f"history derived {took:.0f} s after `peakline demo` started")
        args.out.mkdir(parents=True, exist_ok=True)
        for path in await shoot(url, key, args.out):
            print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
    finally:
        if proc is not None:
            proc.send_signal(signal.SIGINT)
            await asyncio.wait_for(proc.wait(), 60)


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
