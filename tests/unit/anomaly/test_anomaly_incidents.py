"""IncidentBook: one incident per device for events that start together or while the
device's fault is still going on; an unrelated later event is an incident of its own."""

from __future__ import annotations

from peakline_core.anomaly import AnomalyEvent, IncidentBook

S = 1_000_000_000
T0 = 1_736_121_600 * S


def ev(point: str, kind: str, start_s: float, end_s: float | None = None) -> AnomalyEvent:
    start = T0 + int(start_s * S)
    end = None if end_s is None else T0 + int(end_s * S)
    state = "open" if end is None else "closed"
    return AnomalyEvent(f"s1/m1/{point}", kind, start, end, 1.0, state)  # type: ignore[arg-type]


def test_events_starting_together_are_one_incident_that_closes_with_its_last_member() -> None:
    book = IncidentBook()
    [(inc, _)] = book.fold([ev("voltage", "limit", 0), ev("frequency", "limit", 0.5)])
    assert (inc.lead, inc.kind, inc.state) == ("voltage", "limit", "open")
    assert inc.points == ["voltage", "frequency"]
    [(inc, _)] = book.fold([AnomalyEvent("s1/m1/voltage", "limit", T0, T0 + 30 * S, 1.0, "closed")])
    assert inc.state == "open" and inc.members == {"frequency"}
    closing = AnomalyEvent("s1/m1/frequency", "limit", T0 + S // 2, T0 + 31 * S, 1.0, "closed")
    [(inc, _)] = book.fold([closing])
    assert (inc.state, inc.end_ns, inc.start_ns) == ("closed", T0 + 31 * S, T0)
    assert not book.open


def test_events_of_one_poll_that_open_and_close_in_one_batch_are_one_incident() -> None:
    """A glitch of one poll on two registers: both events open and close within the batch.
    They are one incident, led by the first given, with both points (each close once took
    a fresh incident of its own, and the last of them overwrote the first)."""
    book = IncidentBook()
    touched = book.fold([ev("power_total", "limit", 0, 30), ev("a_energy", "counter_reset", 0, 20)])
    assert len(touched) == 1
    [(inc, _)] = touched
    assert (inc.lead, inc.kind, inc.state) == ("power_total", "limit", "closed")
    assert inc.points == ["power_total", "a_energy"]
    assert inc.end_ns == T0 + 30 * S and not book.open


def test_a_hot_incident_takes_a_late_member_and_a_cold_one_does_not() -> None:
    book = IncidentBook(join_s=10)
    book.fold([ev("voltage", "limit", 0)])
    book.heat({"s1/m1/voltage": T0 + 28 * S})  # the fault still reads out of range at 28 s
    [(inc, _)] = book.fold([ev("import_energy", "counter_reset", 30)])
    assert inc.points == ["voltage", "import_energy"]
    # an hour later, nothing hot for long: another fault is another incident
    [(other, _)] = book.fold([ev("power_total", "spike", 3600)])
    assert (other.lead, other.start_ns) == ("power_total", T0 + 3600 * S)
    assert len(book.open["s1/m1"]) == 2
    again = IncidentBook.from_json(book.to_json())
    assert [i.points for i in again.incidents()] == [i.points for i in book.incidents()]
