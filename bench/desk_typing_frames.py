"""The typing frames of bench/desk_typing.py: what the clients send (their throttle), how arrivals are paired with
the frames they answer, and what is recorded (split from desk_typing.py, which runs the sockets and the stack)."""

from __future__ import annotations

import asyncio
import collections
import time
from dataclasses import dataclass, field


@dataclass
class Pair:
    """Agent j and visitor j: the typing frames each sent (state, time, counted) not matched yet, and the latencies.

    Frames are matched in order: an arrival answers the oldest pending frame of its state, and an older frame of the
    other state still pending was lost. A frame that never arrives thus shifts the matching of the frames of the same
    state after it until the next change of state: the next "true" 2 s later is charged to the lost one, ~2 s. Before
    recording, frames may be dropped by design (a visitor typing while no desk views the conversation yet, or a
    repeated "true" throttled at the server while the first views of the run queue up), so a direction is only
    counted from a frame sent once nothing it sent before is pending: all earlier frames arrived, or were resolved
    as lost by a later change of state. Without this, 117 warm-up frames that never arrived made the 2 s tail and
    all of the "lost" frames of the run (docs/typing.md)."""

    index: int
    conversation_id: int = 0
    sent: dict[str, collections.deque[tuple[bool, float, bool]]] = field(
        default_factory=lambda: {"a2v": collections.deque(), "v2a": collections.deque()}
    )
    counting: set[str] = field(default_factory=set)
    viewed: asyncio.Event = field(default_factory=asyncio.Event)

    def send(self, direction: str, state: bool, *, recording: bool) -> bool:
        """Note a frame about to be sent; whether it counts."""
        pending = self.sent[direction]
        if recording and not pending:
            self.counting.add(direction)
        counted = recording and direction in self.counting
        pending.append((state, time.perf_counter(), counted))
        return counted

    def arrive(self, direction: str, state: bool, stats: Stats) -> None:
        now = time.perf_counter()
        pending = self.sent[direction]
        while pending:
            sent_state, at, counted = pending.popleft()
            if sent_state == state:
                if counted:
                    stats.latencies[direction].append((now - at) * 1000)
                return
            if counted:
                stats.lost += 1  # an earlier frame of the other state never came

    def unanswered(self) -> int:
        return sum(1 for queue in self.sent.values() for *_rest, counted in queue if counted)


class ClientThrottle:
    """What desk.js and the widget send while someone types: "typing: true" at the first key and then at most every
    TRUE_EVERY seconds while keys are pressed, "false" IDLE_AFTER seconds after the last key."""

    TRUE_EVERY = 2.0
    IDLE_AFTER = 3.0
    KEY_EVERY = 0.15

    def __init__(self) -> None:
        self.state = False
        self.at = -1e9

    def frames_of_burst(self, start: float, length: float) -> list[tuple[float, bool]]:
        """The (time, state) frames of keys pressed every KEY_EVERY seconds from `start` for `length` seconds."""
        frames: list[tuple[float, bool]] = []
        key = start
        while key <= start + length:
            if not self.state or key - self.at >= self.TRUE_EVERY:
                self.state, self.at = True, key
                frames.append((key, True))
            key += self.KEY_EVERY
        return frames

    def after_pause(self, last_key: float, pause: float) -> list[tuple[float, bool]]:
        if self.state and pause >= self.IDLE_AFTER:
            self.state = False
            return [(last_key + self.IDLE_AFTER, False)]
        return []


@dataclass
class Stats:
    recording: bool = False
    sent: int = 0
    # Sent while recording by a direction that still had a frame from before pending (see Pair): not counted.
    uncounted: int = 0
    lost: int = 0
    latencies: dict[str, list[float]] = field(default_factory=lambda: {"a2v": [], "v2a": []})
    # How late this process's own event loop woke a 10 ms sleep while recording: one process drives 400 sockets, and
    # a latency that is really the client's backlog would show here first.
    loop_lags: list[float] = field(default_factory=list)


LAG_PROBE_S = 0.01


async def probe_loop_lag(stats: Stats) -> None:
    while True:
        before = time.perf_counter()
        await asyncio.sleep(LAG_PROBE_S)
        if stats.recording:
            stats.loop_lags.append((time.perf_counter() - before - LAG_PROBE_S) * 1000)
