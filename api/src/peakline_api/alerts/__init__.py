"""Alerts in the API process (issue 22): incidents and outbox, evaluator, sender, wiring."""
