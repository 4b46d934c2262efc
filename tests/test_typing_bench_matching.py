"""How bench/desk_typing.py pairs the typing frames it receives with those it sent (issue 15, desk_typing).

Frames carry no id, so an arrival answers the oldest pending frame of its state. A frame dropped before recording
(a visitor typing while no desk views the conversation yet, a repeated "true" the server throttles, both by design)
then had every later frame of its state charged to the one before it, ~2 s each: that was the benchmark's whole
2-4 s typing p99 and all of its "lost" frames on a quiet machine (docs/typing.md). A direction now counts only
from a frame it sends with nothing of its own pending."""

from __future__ import annotations

from bench.desk_typing_frames import Pair, Stats


def test_it_does_not_count_a_frame_sent_while_one_from_before_recording_is_pending() -> None:
    pair, stats = Pair(0), Stats()
    pair.send("v2a", True, recording=False)  # dropped by the server: nobody viewed the conversation yet

    counted = pair.send("v2a", True, recording=True)  # the client's resend, 2 s later
    pair.arrive("v2a", True, stats)  # the resend arrives: paired with the dropped frame, not with itself

    assert counted is False
    assert stats.latencies["v2a"] == []
    assert stats.lost == 0


def test_it_counts_a_direction_once_a_change_of_state_resolved_what_was_dropped_before_recording() -> None:
    pair, stats = Pair(0), Stats()
    pair.send("a2v", True, recording=False)  # throttled at the server during the warm-up
    pair.send("a2v", False, recording=False)
    pair.arrive("a2v", False, stats)  # the stop arrives: the dropped "true" was lost before recording, uncounted

    first = pair.send("a2v", True, recording=True)
    pair.arrive("a2v", True, stats)
    resend = pair.send("a2v", True, recording=True)
    pair.arrive("a2v", True, stats)

    assert (first, resend) == (True, True)
    assert len(stats.latencies["a2v"]) == 2
    assert stats.lost == 0
    assert pair.unanswered() == 0


def test_it_counts_as_lost_a_recorded_frame_that_never_came_before_a_change_of_state() -> None:
    pair, stats = Pair(0), Stats()
    pair.send("a2v", True, recording=True)  # never arrives
    pair.send("a2v", False, recording=True)
    pair.arrive("a2v", False, stats)

    assert stats.lost == 1
    assert len(stats.latencies["a2v"]) == 1


def test_it_leaves_a_recorded_frame_that_never_came_unanswered() -> None:
    pair = Pair(0)
    pair.send("v2a", True, recording=True)

    assert pair.unanswered() == 1
