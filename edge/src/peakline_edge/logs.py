"""Structured logging for the agent process: one JSON object per line on stderr (journald
keeps it), or a readable console form. Called by the command, never at import time."""

from __future__ import annotations

import logging
import sys

import structlog


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    # pymodbus logs every timeout as an error; the device layer reports them once, in context
    logging.getLogger("pymodbus").setLevel(logging.CRITICAL)
    # aiomqtt warns on every publish beyond ten in flight; the uplink keeps many in flight
    logging.getLogger("mqtt").setLevel(logging.ERROR)
