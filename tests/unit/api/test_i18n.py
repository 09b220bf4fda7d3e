"""zh-CN and en: the dashboard's JSON catalogues and the API's Babel catalogue of problem titles
are complete (same keys, nothing empty, same placeholders), every key a page uses is in them,
and the API answers problem titles in the caller's language with the `type` unchanged."""

from __future__ import annotations

import json
import re
import string
from collections.abc import Iterator
from importlib.resources import files
from pathlib import Path
from typing import get_args

import pytest
import yaml

import peakline_api.app  # noqa: F401  (imports every router, so every ApiError is defined)
from peakline_api.errors import HTTP_TITLES, ApiError
from peakline_api.i18n import LANGUAGES, negotiate, read_catalogue
from peakline_core.anomaly.config import DETECTORS
from peakline_core.emissions.inventory import Scope1Category, Scope2Carrier
from peakline_core.wire.payloads import CommandState, Quality
from tests.unit.api.api_support import Api

STATIC = Path(str(files("peakline_api") / "static"))
PAGE_LANGUAGES = ("en", "zh-CN")
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# Attributes naming a message in the pages (common.js fills them in).
ATTRIBUTE = re.compile(r'data-i18n(?:-[a-z-]+)?="([^"]+)"')
# A message id in the scripts: a quoted dotted lower-case literal, like "site.no_target"; the
# scripts' only other such literals are their localStorage keys ("peakline.…").
LITERAL = re.compile(r'"([a-z][a-z0-9_]*\.[a-z0-9_.]+)"')
# A key built at run time ("live." + state) is checked by test_domain_words_have_messages.
SCRIPT_ATTRIBUTE = re.compile(r'dataset\.i18n\w* = "([^"]+)";')


def page_catalogue(lang: str) -> dict[str, str]:
    return json.loads((STATIC / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))


def keys_used_by_pages() -> dict[str, set[str]]:
    """Message id -> the files that use it."""
    used: dict[str, set[str]] = {}
    for path in sorted(STATIC.glob("*.html")):
        for key in ATTRIBUTE.findall(path.read_text(encoding="utf-8")):
            used.setdefault(key, set()).add(path.name)
    for path in sorted(STATIC.glob("*.js")):
        source = path.read_text(encoding="utf-8")
        for key in LITERAL.findall(source) + SCRIPT_ATTRIBUTE.findall(source):
            if not key.startswith("peakline."):
                used.setdefault(key, set()).add(path.name)
    return used


def test_page_catalogues_have_the_same_keys_and_nothing_empty() -> None:
    en, zh = (page_catalogue(lang) for lang in PAGE_LANGUAGES)
    assert sorted(set(en) - set(zh)) == [], "missing in zh-CN.json"
    assert sorted(set(zh) - set(en)) == [], "missing in en.json"
    for lang in PAGE_LANGUAGES:
        catalogue = page_catalogue(lang)
        empty = [k for k, v in catalogue.items() if not isinstance(v, str) or not v.strip()]
        assert empty == [], f"empty messages in {lang}.json"


def test_page_catalogue_placeholders_match() -> None:
    en, zh = (page_catalogue(lang) for lang in PAGE_LANGUAGES)
    differ = {
        k: (en[k], zh[k])
        for k in en
        if sorted(PLACEHOLDER.findall(en[k])) != sorted(PLACEHOLDER.findall(zh.get(k, "")))
    }
    assert differ == {}


def test_every_key_a_page_uses_is_in_the_catalogues() -> None:
    used = keys_used_by_pages()
    assert len(used) > 50  # the extraction found the pages' keys at all
    for lang in PAGE_LANGUAGES:
        catalogue = page_catalogue(lang)
        missing = {k: sorted(v) for k, v in used.items() if k not in catalogue}
        assert missing == {}, f"keys used by pages but not in {lang}.json"


def test_the_zh_catalogue_is_chinese() -> None:
    """A zh-CN message that is the English one copied over is an untranslated label; only
    messages that are nothing but units, placeholders and symbols may be equal."""
    en, zh = (page_catalogue(lang) for lang in PAGE_LANGUAGES)
    words = re.compile(r"[a-z]{3,}")
    copied = [k for k in en if en[k] == zh[k] and words.search(PLACEHOLDER.sub("", en[k]))]
    assert copied == []


def test_domain_words_have_messages(repo_root: Path) -> None:
    """The words the API sends as data and the pages show through `label(group, value)` or
    `t(group + value)`: device states and kinds, qualities, command states, anomaly kinds."""
    kinds = {
        yaml.safe_load(p.read_text())["kind"]
        for p in (repo_root / "config/profiles").glob("*.yaml")
    }
    groups = {
        "state": {"online", "offline", "unavailable", "unknown"},
        "live": {"connecting", "live", "offline"},
        "kind": kinds,
        "site_kind": {"building", "feeder"},
        "quality": {q.value for q in Quality},
        "cmd_state": {s.value for s in CommandState} | {"sending", "error"},
        "anomaly": set(DETECTORS) - {"none"},
        "anomaly_state": {"open", "closed"},
        "scope2": {"location", "market"},
        # the inventory page's Scope 1 categories, Scope 2 carriers, fuels and refrigerants
        "inventory.term": set(get_args(Scope1Category))
        | set(get_args(Scope2Carrier))
        | {"refrigerants", "refrigerant_retrofit"}
        | {
            fuel["fuel"]
            for p in (repo_root / "config/emission-factors").glob("*.yaml")
            for fuel in yaml.safe_load(p.read_text()).get("fuels", [])
        },
        # the writable point a command changed (an anomaly explained by it, issue 18)
        "writable": {
            point["name"]
            for p in (repo_root / "config/profiles").glob("*.yaml")
            for point in yaml.safe_load(p.read_text()).get("points", [])
            if point.get("writable")
        },
    }
    for lang in PAGE_LANGUAGES:
        catalogue = page_catalogue(lang)
        missing = sorted(
            f"{g}.{v}"
            for g, values in groups.items()
            for v in values
            if f"{g}.{v}" not in catalogue
        )
        assert missing == [], lang


def all_problem_titles() -> set[str]:
    def walk(cls: type[ApiError]) -> Iterator[type[ApiError]]:
        for sub in cls.__subclasses__():
            yield sub
            yield from walk(sub)

    return {c.title for c in [ApiError, *walk(ApiError)]} | set(HTTP_TITLES)


def format_fields(message: str) -> list[str]:
    return sorted(f for _, f, _, _ in string.Formatter().parse(message) if f is not None)


def test_babel_catalogues_are_complete() -> None:
    catalogues = {locale: read_catalogue(locale) for locale in LANGUAGES}
    ids = {locale: {m.id for m in c if m.id} for locale, c in catalogues.items()}
    assert ids["en"] == ids["zh_CN"]
    for locale, catalogue in catalogues.items():
        for m in catalogue:
            if not m.id:
                continue
            assert isinstance(m.string, str) and m.string.strip(), (locale, m.id)
            assert not m.fuzzy, (locale, m.id)
            assert format_fields(m.string) == format_fields(m.id), (locale, m.id)
    missing = sorted(all_problem_titles() - ids["en"])
    assert missing == [], "problem titles the API can answer but no catalogue translates"


@pytest.mark.parametrize(
    ("header", "locale"),
    [
        (None, "en"),
        ("", "en"),
        ("zh-CN,zh;q=0.9,en;q=0.8", "zh_CN"),
        ("zh", "zh_CN"),
        ("en-US,en;q=0.9,zh-CN;q=0.5", "en"),
        ("fr-FR, zh-Hans;q=0.7, en;q=0.3", "zh_CN"),
        ("en;q=0.2, zh-TW;q=0.8", "zh_CN"),
        ("zh-CN;q=0, en", "en"),
        ("de, fr", "en"),
        ("*", "en"),
        ("zh;q=bogus, en", "en"),
    ],
)
def test_accept_language_negotiation(header: str | None, locale: str) -> None:
    assert negotiate(header) == locale


async def test_problem_titles_follow_accept_language(api: Api) -> None:
    english = await api.client.get("/api/v1/sites")
    chinese = await api.client.get("/api/v1/sites", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert english.status_code == chinese.status_code == 401
    e, z = english.json(), chinese.json()
    assert e["title"] == "Missing or invalid API key"
    assert z["title"] == "API 密钥缺失或无效"
    assert e["type"] == z["type"] == "urn:peakline:problem:unauthenticated"
    assert e["detail"] == z["detail"]
    assert chinese.headers["content-language"] == "zh-CN"
    assert english.headers["content-language"] == "en"
    assert "accept-language" in chinese.headers["vary"].lower()


async def test_every_problem_kind_is_translated(api: Api) -> None:
    zh = {"Accept-Language": "zh-CN"}
    missing = await api.client.get("/no/such/path", headers=zh)
    assert missing.status_code == 404
    assert missing.json()["title"] == "未找到"
    assert missing.json()["type"] == "urn:peakline:problem:not-found"
    invalid = await api.client.get(
        "/api/v1/sites?limit=-5", headers={**zh, **api.headers("viewer_all")}
    )
    assert invalid.status_code == 422
    assert invalid.json()["title"] == "请求无效"
    assert invalid.json()["type"] == "urn:peakline:problem:invalid-request"
    viewer = {**zh, **api.headers("viewer_all")}
    unknown = await api.client.get("/api/v1/sites/nope", headers=viewer)
    assert unknown.status_code == 404
    assert unknown.json()["title"] == "资源不存在"
    assert unknown.json()["type"] == "urn:peakline:problem:unknown-id"


def test_every_top_level_page_links_to_the_others() -> None:
    # One header on the overview, programme, inventory and alerts pages: each links to the
    # other three and marks itself as the current page (it used to link back only).
    pages = {"index.html": "./", "programme.html": "programme.html",
             "inventory.html": "inventory.html", "alerts.html": "alerts.html"}  # fmt: skip
    for page in pages:
        header = re.search(r"<h1>(.*)</h1>", (STATIC / page).read_text(encoding="utf-8"))
        assert header, page
        links = set(re.findall(r'<a class="sub" href="([^"]+)"', header.group(1)))
        assert links == {href for other, href in pages.items() if other != page}, page
        assert header.group(1).count('aria-current="page"') == 1, page


def test_an_anomaly_explained_by_a_command_reads_naturally_in_both_languages() -> None:
    """The dimmed line of an incident a command explains (site.js fills it in), with the
    demo's demand-response setpoint: the same placeholders, and the words an energy manager
    reads."""
    shown = {
        lang: page_catalogue(lang)["site.anomaly_after_command"].format(
            point=page_catalogue(lang)["writable.setpoint"], unit="°C", time="06:00",
            **{"from": "21.0", "to": "19.0"},
        )
        for lang in PAGE_LANGUAGES
    }  # fmt: skip
    assert shown == {
        "en": "after a command: setpoint 21.0 → 19.0 °C at 06:00",
        "zh-CN": "指令所致：设定温度 21.0 → 19.0 °C（06:00）",
    }
