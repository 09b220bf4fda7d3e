"""The API's languages: problem-detail titles in English and Simplified Chinese, chosen by the
caller's Accept-Language (RFC 9110 §12.5.4). The titles live in Babel (gettext .po)
catalogues under `peakline_api/locales/<locale>/LC_MESSAGES/problems.po`, the English title
being the message id; a problem's `type` never changes with the language."""

from __future__ import annotations

from dataclasses import dataclass
from importlib.resources import files

from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

DOMAIN = "problems"
DEFAULT = "en"
# Catalogue locale -> the language tag it answers with (Content-Language).
LANGUAGES: dict[str, str] = {"en": "en", "zh_CN": "zh-CN"}


def read_catalogue(locale: str) -> Catalog:
    """The Babel catalogue of problem titles for `locale` (a key of LANGUAGES)."""
    path = files("peakline_api") / "locales" / locale / "LC_MESSAGES" / f"{DOMAIN}.po"
    with path.open("rb") as f:
        return read_po(f, locale=locale, domain=DOMAIN)


def negotiate(accept_language: str | None) -> str:
    """The catalogue locale that best fits an Accept-Language header (weights honoured; any
    Chinese tag gets Simplified Chinese, the only Chinese we have); English otherwise."""
    ranked: list[tuple[float, int, str]] = []
    for i, part in enumerate((accept_language or "").split(",")):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.strip().lower() == "q":
                try:
                    q = float(value)
                except ValueError:
                    q = 0.0
        if tag and q > 0:
            ranked.append((-q, i, tag.strip().lower()))
    for _, _, tag in sorted(ranked):
        primary = tag.split("-")[0]
        if primary == "zh":
            return "zh_CN"
        if primary == "en" or tag == "*":
            return "en"
    return DEFAULT


@dataclass(frozen=True)
class ProblemTitles:
    """Problem titles per catalogue locale: English title -> title in that language."""

    titles: dict[str, dict[str, str]]

    @classmethod
    def load(cls) -> ProblemTitles:
        """Read every catalogue (done by the app factory, never at import)."""
        titles: dict[str, dict[str, str]] = {}
        for locale in LANGUAGES:
            # Plural entries carry tuples; problem titles are plain strings.
            titles[locale] = {
                m.id: m.string
                for m in read_catalogue(locale)
                if isinstance(m.id, str) and m.id and isinstance(m.string, str) and m.string
            }
        return cls(titles)

    def title(self, english: str, accept_language: str | None) -> tuple[str, str]:
        """(title, language tag) for the caller; an untranslated title stays English."""
        locale = negotiate(accept_language)
        found = self.titles.get(locale, {}).get(english)
        if found is None:
            return english, LANGUAGES[DEFAULT]
        return found, LANGUAGES[locale]
