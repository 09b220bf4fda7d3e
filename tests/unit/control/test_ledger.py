"""The audit ledger: durable, forward-only states, every report kept, searchable; on SQLite and
on PostgreSQL (the same contract), with state changes that two replicas cannot both make."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from peakline_api.ledger import CommandLedger, LedgerError, allowed
from peakline_core.wire import Command, CommandState
from tests.state_backends import StateBackend

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


def test_lifecycle_is_durable_and_audited(state_backend: StateBackend) -> None:
    with CommandLedger(state_backend.where("ledger.db")) as ledger:
        ledger.record(command(key="k"), A, None, NOW)
        assert ledger.transition("c1", SENT, NOW + 1, source="api")
        assert ledger.transition(
            "c1", APPLIED, NOW + 2, source="edge:gw", readback=22.5, previous=21.0
        )
        assert not ledger.transition("c1", SENT, NOW + 3, source="api")  # late, ignored
        assert not ledger.transition("ghost", APPLIED, NOW, source="edge:gw")
        with pytest.raises(LedgerError):
            ledger.record(command(key="k"), A, None, NOW)  # same id
    with CommandLedger(state_backend.where("ledger.db")) as again:  # reopened: all still there
        entry = again.get("c1", history=True)
        assert entry.state is APPLIED and entry.readback == 22.5 and entry.previous == 21.0
        assert [(e.state, e.applied) for e in entry.history] == [
            ("accepted", True), ("sent", True), ("applied", True), ("sent", False),
        ]  # fmt: skip
        assert again.by_idempotency_key("key:k1:alice", "k") is not None
        assert again.by_idempotency_key("key:k2:bob", "k") is None


def test_sqlite_url_forms(tmp_path: Path) -> None:
    with CommandLedger(f"sqlite:///{tmp_path / 'ledger.db'}") as ledger:
        ledger.record(command(), A, None, NOW)
    with CommandLedger(str(tmp_path / "ledger.db")) as again:
        assert again.get("c1").state is A


def test_search_and_pending(state_backend: StateBackend) -> None:
    with CommandLedger(state_backend.where("l.db")) as ledger:
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


def test_dr_events_are_replaced_by_id(state_backend: StateBackend) -> None:
    with CommandLedger(state_backend.where("l.db")) as ledger:
        ledger.put_event("e1", NOW, {"id": "e1", "state": "scheduled"})
        ledger.put_event("e2", NOW + 1, {"id": "e2", "state": "scheduled"})
        ledger.put_event("e1", NOW, {"id": "e1", "state": "running"})
        assert ledger.event("e1")["state"] == "running"
        assert [e["id"] for e in ledger.events()] == ["e2", "e1"]
        with pytest.raises(KeyError):
            ledger.event("nope")


@pytest.mark.parametrize("report", ["ack", "expiry"])
def test_replicas_applying_the_same_report_move_the_command_once(
    state_backend: StateBackend, report: str
) -> None:
    # Every replica follows the broker, so each hears every ack; each may also run a sweep
    # that expires an unanswered command. Eight "replicas" (own connections, own threads)
    # apply the same report to each of 20 commands at the same instant: exactly one moves it.
    with CommandLedger(state_backend.where("l.db")) as ledger:
        for i in range(20):
            ledger.record(command(f"c{i}"), SENT if i % 2 else A, None, NOW)
    state, source = (APPLIED, "edge:gw") if report == "ack" else (EXPIRED, "sweeper")
    moved: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(8)
    replicas = [CommandLedger(state_backend.where("l.db")) for _ in range(8)]

    def replica(ledger: CommandLedger) -> None:
        for i in range(20):
            barrier.wait()
            if ledger.transition(f"c{i}", state, NOW + 1, source=source):
                with lock:
                    moved.append(f"c{i}")

    threads = [threading.Thread(target=replica, args=(r,)) for r in replicas]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for r in replicas:
        r.close()
    assert sorted(moved) == sorted(f"c{i}" for i in range(20))  # each once, none twice
    with CommandLedger(state_backend.where("l.db")) as ledger:
        for i in range(20):
            entry = ledger.get(f"c{i}", history=True)
            assert entry.state is state
            heard = [e for e in entry.history if e.source == source]
            assert len(heard) == 8 and sum(e.applied for e in heard) == 1


def test_an_ack_after_the_sweeper_expired_the_command_still_wins(
    state_backend: StateBackend,
) -> None:
    with CommandLedger(state_backend.where("l.db")) as ledger:
        ledger.record(command(), SENT, None, NOW)
        assert ledger.transition("c1", EXPIRED, NOW + 1, source="sweeper")
        assert not ledger.transition("c1", EXPIRED, NOW + 2, source="sweeper")  # never twice
        assert ledger.transition("c1", APPLIED, NOW + 3, source="edge:gw", readback=22.5)
        assert not ledger.transition("c1", EXPIRED, NOW + 4, source="sweeper")
        assert ledger.get("c1").state is APPLIED
