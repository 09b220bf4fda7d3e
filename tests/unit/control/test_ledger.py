"""The audit ledger: durable, forward-only states, every report kept, searchable."""

from __future__ import annotations

from pathlib import Path

import pytest

from peakline_api.ledger import CommandLedger, LedgerError, allowed
from peakline_core.wire import Command, CommandState

NOW = 1_800_000_000_000_000_000
A, SENT, APPLIED = CommandState.ACCEPTED, CommandState.SENT, CommandState.APPLIED
EXPIRED, REVERTED, FAILED = CommandState.EXPIRED, CommandState.REVERTED, CommandState.FAILED


def command(cid: str = "c1", site: str = "s1", key: str | None = None) -> Command:
    return Command(
        id=cid, site=site, device="d1", point="setpoint", value=22.5, issued_at=NOW,
        expires_at=NOW + 60_000_000_000, issuer="key:k1:alice", idempotency_key=key,
    )  # fmt: skip


def test_state_machine() -> None:
    assert allowed(A, SENT, "api") and allowed(SENT, APPLIED, "edge:gw")
    assert allowed(A, APPLIED, "edge:gw")  # the ack can beat the 'sent' bookkeeping
    assert not allowed(APPLIED, SENT, "api") and not allowed(APPLIED, FAILED, "edge:gw")
    assert allowed(APPLIED, REVERTED, "edge:gw")
    assert allowed(EXPIRED, APPLIED, "edge:gw") and not allowed(EXPIRED, APPLIED, "sweeper")
    assert not allowed(CommandState.REJECTED, APPLIED, "edge:gw")


def test_lifecycle_is_durable_and_audited(tmp_path: Path) -> None:
    path = tmp_path / "ledger.db"
    with CommandLedger(f"sqlite:///{path}") as ledger:
        ledger.record(command(key="k"), A, None, NOW)
        assert ledger.transition("c1", SENT, NOW + 1, source="api")
        assert ledger.transition(
            "c1", APPLIED, NOW + 2, source="edge:gw", readback=22.5, previous=21.0
        )
        assert not ledger.transition("c1", SENT, NOW + 3, source="api")  # late, ignored
        assert not ledger.transition("ghost", APPLIED, NOW, source="edge:gw")
        with pytest.raises(LedgerError):
            ledger.record(command(key="k"), A, None, NOW)  # same id
    with CommandLedger(str(path)) as again:  # reopened: everything is still there
        entry = again.get("c1", history=True)
        assert entry.state is APPLIED and entry.readback == 22.5 and entry.previous == 21.0
        assert [(e.state, e.applied) for e in entry.history] == [
            ("accepted", True), ("sent", True), ("applied", True), ("sent", False),
        ]  # fmt: skip
        assert again.by_idempotency_key("key:k1:alice", "k") is not None
        assert again.by_idempotency_key("key:k2:bob", "k") is None


def test_search_and_pending(tmp_path: Path) -> None:
    with CommandLedger(str(tmp_path / "l.db")) as ledger:
        ledger.record(command("a", "s1"), A, None, NOW)
        ledger.record(command("b", "s2"), A, None, NOW)
        ledger.record(command("c", "s1"), CommandState.REJECTED, "out_of_range: x", NOW)
        items, total = ledger.search(sites=["s1"])
        assert total == 2 and {e.id for e in items} == {"a", "c"}
        items, total = ledger.search(sites=["s1", "s2"], states=["accepted"], limit=1)
        assert total == 2 and len(items) == 1
        assert {e.id for e in ledger.pending()} == {"a", "b"}


def test_unsupported_url_fails_at_start(tmp_path: Path) -> None:
    with pytest.raises(LedgerError, match="only sqlite"):
        CommandLedger("postgresql://db/peakline")
