"""One alert evaluator across API replicas sharing an alerts database: the lease
(`AlertStore.hold`) is taken by one replica, renewed each pass, refused to the others while
it runs, taken over once it has run out, and handed on at once on a clean shutdown; on SQLite
and on PostgreSQL (the same contract)."""

from __future__ import annotations

import threading

from peakline_api.alerts.service import LEASE
from peakline_api.alerts.store import AlertStore
from peakline_api.statedb import StateDb
from tests.state_backends import StateBackend

S = 10**9
TTL = 180 * S


def test_one_holder_at_a_time_and_a_takeover_when_the_lease_runs_out(
    state_backend: StateBackend,
) -> None:
    where_a, where_b = state_backend.where("alerts.db"), state_backend.where("alerts.db")
    with AlertStore(where_a) as a, AlertStore(where_b) as b:
        assert a.hold(LEASE, "replica-a", 0, TTL)
        assert not b.hold(LEASE, "replica-b", 1 * S, TTL)  # a's runs to 180 s
        assert a.hold(LEASE, "replica-a", 60 * S, TTL)  # renewed: to 240 s
        assert not b.hold(LEASE, "replica-b", 200 * S, TTL)
        # a stops renewing (killed): b takes over once the lease has run out
        assert b.hold(LEASE, "replica-b", 240 * S, TTL)
        assert not a.hold(LEASE, "replica-a", 241 * S, TTL)  # a, back, does not evaluate
        assert a.holder(LEASE) == ("replica-b", 420 * S)
        # a clean shutdown hands the lease on at once
        b.release(LEASE, "replica-b", 300 * S)
        assert a.hold(LEASE, "replica-a", 300 * S, TTL)
        b.release(LEASE, "replica-b", 301 * S)  # not its lease any more: nothing changes
        assert a.holder(LEASE) == ("replica-a", 480 * S)


def test_replicas_racing_for_the_lease_never_both_hold_it(state_backend: StateBackend) -> None:
    # Eight "replicas" (own connections, own threads) try at the same instants, 50 rounds
    # with the lease expiring every round: each round exactly one of them wins.
    wheres = [state_backend.where("alerts.db") for _ in range(8)]
    wins: dict[int, list[str]] = {r: [] for r in range(50)}
    lock = threading.Lock()
    barrier = threading.Barrier(8, timeout=120)  # a replica that dies breaks it: no hang

    def replica(name: str, where: str | StateDb) -> None:
        with AlertStore(where) as db:
            for r in range(50):
                barrier.wait()
                if db.hold(LEASE, name, r * TTL, TTL):
                    with lock:
                        wins[r].append(name)

    threads = [threading.Thread(target=replica, args=(f"r{i}", wheres[i])) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # a holder renewing its own lease in the same round also "wins": one holder per round
    assert all(len(set(names)) == 1 for names in wins.values()), wins
