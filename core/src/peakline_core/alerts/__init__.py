"""Alerts (issue 22): conditions, the incident lifecycle, notification text and webhook bodies.

Pure functions only; the API's evaluator reads the store, keeps incidents and sends.
"""

from peakline_core.alerts.lifecycle import (
    Incident,
    IncidentError,
    Observation,
    Transition,
    acknowledge,
    observe,
    reminder_due,
)
from peakline_core.alerts.messages import Message, render, render_digest
from peakline_core.alerts.webhooks import WebhookRequest, build_request

__all__ = [
    "Incident",
    "IncidentError",
    "Message",
    "Observation",
    "Transition",
    "WebhookRequest",
    "acknowledge",
    "build_request",
    "observe",
    "reminder_due",
    "render",
    "render_digest",
]
