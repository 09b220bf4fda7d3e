"""The API's error tree and its rendering as RFC 9457 problem details.

Every error leaves the API as `application/problem+json` with `type`, `title`, `status`,
`detail` and `instance`; validation errors add `errors` (where and what). Nothing else
reaches a client: unexpected exceptions become a bare 500 problem and are logged.

The `title` is in the caller's language (Accept-Language, see `peakline_api.i18n`); `type`,
`detail` and the rest are the same in every language.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from peakline_api.i18n import ProblemTitles
from peakline_core.errors import PeaklineError
from peakline_core.storage import StoreRejected, StoreTruncated, StoreUnavailable

PROBLEM_MEDIA_TYPE = "application/problem+json"
PROBLEM_BASE = "urn:peakline:problem:"


class ApiError(PeaklineError):
    """Base of every error raised by peakline_api; the caller gets a problem document with
    its status and detail, except for `Internal` ones."""

    status = 400
    code = "bad-request"
    title = "Bad request"

    def __init__(self, detail: str, **extra: Any) -> None:
        super().__init__(detail)
        self.detail = detail
        self.extra = extra


class Unauthenticated(ApiError):
    status, code, title = 401, "unauthenticated", "Missing or invalid API key"


class Forbidden(ApiError):
    status, code, title = 403, "forbidden", "Not allowed for this key"


class UnknownId(ApiError):
    """An id that is not in the registry, or not visible to the caller (same answer: no leak)."""

    status, code, title = 404, "unknown-id", "No such resource"


class InvalidQuery(ApiError):
    status, code, title = 422, "invalid-query", "Invalid query"


class TooLarge(ApiError):
    status, code, title = 413, "too-large", "Request too large"


# Problems raised by the handlers below rather than by our code; declared as classes so
# every title the API can answer has one place, and the catalogue test can find it.
class InvalidRequest(ApiError):
    status, code, title = 422, "invalid-request", "Invalid request"


class StoreDown(ApiError):
    status, code, title = 503, "store-unavailable", "Time-series store unavailable"


class StoreCut(ApiError):
    status, code, title = 502, "store-truncated", "Answer truncated by the store"


class StoreRefused(ApiError):
    status, code, title = 502, "store-rejected", "Query rejected by the store"


class Internal(ApiError):
    """A failure that is not the caller's (a ledger or key store that cannot be written, an
    alert that cannot be delivered): answered like any unexpected exception, a bare 500 with
    its detail only in the log."""

    status, code, title = 500, "internal", "Internal error"


# Titles Starlette gives its own HTTP errors (no route, wrong method) that we translate.
HTTP_TITLES = ("Not Found", "Method Not Allowed")


def problem(
    status: int,
    code: str,
    title: str,
    detail: str,
    instance: str,
    language: str | None = None,
    **extra: Any,
) -> JSONResponse:
    """A problem details response (RFC 9457); `language` is the title's (Content-Language)."""
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + code,
        "title": title,
        "status": status,
        "detail": detail,
        "instance": instance,
        **extra,
    }
    headers = {}
    if language is not None:
        headers["Content-Language"] = language
        headers["Vary"] = "Accept-Language"
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="peakline"'
    retry = extra.get("retry_after_s")
    if retry is not None:
        headers["Retry-After"] = str(max(1, round(retry)))
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _json_safe(value: Any) -> Any:
    if isinstance(value, str | int | float | bool) or value is None:
        return value if not isinstance(value, str) else value[:200]
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return str(value)[:200]


def install_problem_handlers(app: FastAPI, titles: ProblemTitles | None = None) -> None:
    """Map every error the API can meet to a problem document, titled in the caller's
    language from `titles` (default: the packaged catalogues)."""
    log = structlog.get_logger("peakline.api")
    catalogue = titles if titles is not None else ProblemTitles.load()

    def answer(request: Request, kind: type[ApiError], detail: str, **extra: Any) -> JSONResponse:
        title, language = catalogue.title(kind.title, request.headers.get("accept-language"))
        return problem(kind.status, kind.code, title, detail, request.url.path, language, **extra)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        if isinstance(exc, Internal):
            raise exc  # on to `_unexpected` (Starlette calls it last): logged, detail kept back
        return answer(request, type(exc), exc.detail, **exc.extra)

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"loc": _json_safe(list(e.get("loc", ()))), "msg": str(e.get("msg", ""))[:200]}
            for e in exc.errors()
        ]
        return answer(request, InvalidRequest, "the request failed validation", errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else "error"
        code = {404: "not-found", 405: "method-not-allowed", 413: "too-large"}.get(
            exc.status_code, "http-error"
        )
        title, language = catalogue.title(detail, request.headers.get("accept-language"))
        return problem(exc.status_code, code, title, detail, request.url.path, language)

    @app.exception_handler(StoreUnavailable)
    async def _store_down(request: Request, exc: StoreUnavailable) -> JSONResponse:
        log.warning("store_unavailable", detail=str(exc), path=request.url.path)
        return answer(
            request,
            StoreDown,
            "the time-series store cannot serve requests; retry later",
            retry_after_s=exc.retry_after_s or 5,
        )

    # Starlette picks the handler of the most specific class, so this one wins over
    # StoreRejected's: a server-side row limit, never served as a short answer.
    @app.exception_handler(StoreTruncated)
    async def _store_truncated(request: Request, exc: StoreTruncated) -> JSONResponse:
        log.error("store_truncated_query", detail=str(exc), path=request.url.path)
        return answer(
            request,
            StoreCut,
            "the store's row limit cut the answer short; ask for a shorter range or a"
            " coarser window (operators: InfluxDB [http] max-row-limit = 0)",
        )

    @app.exception_handler(StoreRejected)
    async def _store_rejected(request: Request, exc: StoreRejected) -> JSONResponse:
        log.error("store_rejected_query", detail=str(exc), path=request.url.path)
        return answer(request, StoreRefused, "the store refused the query")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled_error", path=request.url.path)
        return answer(request, Internal, "unexpected error; it has been logged")
