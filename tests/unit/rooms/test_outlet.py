"""The fan-out's per-listener outlet: sends on the spot, queues only behind a send that waits."""

from __future__ import annotations

import asyncio

import pytest

from roomscribe.rooms.outlet import Outlet


class Socket:
    """A send that completes at once unless `stall()` was called; records what it sent."""

    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.gate: asyncio.Event | None = None
        self.cancelled = 0
        self.fail: Exception | None = None

    def stall(self) -> None:
        self.gate = asyncio.Event()

    def release(self) -> None:
        assert self.gate is not None
        self.gate.set()
        self.gate = None

    async def send(self, data: bytes) -> None:
        if self.fail is not None:
            raise self.fail
        if self.gate is not None:
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        self.sent.append(data)


class Calls:
    def __init__(self) -> None:
        self.last = 0
        self.overflow = 0
        self.errors: list[Exception] = []

    def outlet(self, socket: Socket, limit: int = 3) -> Outlet:
        return Outlet(socket.send, limit=limit, on_last=self._last, on_error=self.errors.append,
                      on_overflow=self._overflow)

    def _last(self) -> None:
        self.last += 1

    def _overflow(self) -> None:
        self.overflow += 1


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_a_socket_that_takes_the_bytes_is_sent_to_before_offer_returns() -> None:
    socket, calls = Socket(), Calls()
    outlet = calls.outlet(socket)
    outlet.offer(b"a")
    assert socket.sent == [b"a"]  # no task, no turn of the event loop
    outlet.offer(b"b", last=True)
    assert socket.sent == [b"a", b"b"] and calls.last == 1
    outlet.offer(b"c")
    assert socket.sent == [b"a", b"b"]  # nothing after the last


async def test_behind_a_waiting_send_events_queue_and_go_out_in_order() -> None:
    socket, calls = Socket(), Calls()
    outlet = calls.outlet(socket)
    socket.stall()
    outlet.offer(b"1")
    outlet.offer(b"2")
    outlet.offer(b"3", last=True)
    await settle()
    assert socket.sent == [] and outlet.backlog == 2 and calls.last == 0
    socket.release()
    await settle()
    assert socket.sent == [b"1", b"2", b"3"] and calls.last == 1
    assert calls.errors == [] and calls.overflow == 0


async def test_once_caught_up_sends_are_immediate_again() -> None:
    socket, calls = Socket(), Calls()
    outlet = calls.outlet(socket)
    socket.stall()
    outlet.offer(b"1")
    socket.release()
    await settle()
    outlet.offer(b"2")
    assert socket.sent == [b"1", b"2"]


async def test_a_listener_past_the_limit_is_given_up_and_its_stuck_send_cancelled() -> None:
    socket, calls = Socket(), Calls()
    outlet = calls.outlet(socket, limit=3)
    socket.stall()
    for i in range(4):
        outlet.offer(str(i).encode())  # one sending, three waiting: at the limit
    await settle()
    assert calls.overflow == 0
    outlet.offer(b"4")
    await settle()
    assert calls.overflow == 1 and socket.cancelled == 1 and outlet.backlog == 0
    outlet.offer(b"5")
    assert calls.overflow == 1 and socket.sent == []


async def test_a_failing_send_is_reported_once_and_ends_the_outlet() -> None:
    socket, calls = Socket(), Calls()
    outlet = calls.outlet(socket)
    socket.fail = OSError("connection reset")
    outlet.offer(b"a")
    outlet.offer(b"b")
    assert [str(e) for e in calls.errors] == ["connection reset"]

    queued, later = Socket(), Calls()
    outlet = later.outlet(queued)
    queued.stall()
    outlet.offer(b"a")
    outlet.offer(b"b")
    queued.fail = RuntimeError("closed")
    queued.release()
    await settle()
    assert queued.sent == [b"a"] and [str(e) for e in later.errors] == ["closed"]


async def test_what_a_joiner_is_owed_goes_first_whatever_its_length() -> None:
    socket, calls = Socket(), Calls()
    outlet = calls.outlet(socket, limit=2)
    outlet.prime([b"room", b"roster", b"pins", b"final 1", b"final 2"])
    outlet.offer(b"live")
    assert socket.sent == []  # the primed items are sent by a task, in order
    await settle()
    assert socket.sent == [b"room", b"roster", b"pins", b"final 1", b"final 2", b"live"]
    assert calls.overflow == 0


async def test_closing_cancels_a_waiting_send_and_drops_the_rest() -> None:
    socket, calls = Socket(), Calls()
    outlet = calls.outlet(socket)
    socket.stall()
    outlet.offer(b"1")
    outlet.offer(b"2")
    await settle()
    outlet.close()
    await settle()
    assert socket.cancelled == 1 and socket.sent == [] and calls.errors == []


@pytest.mark.parametrize("stalled", [False, True])
async def test_a_send_that_waits_twice_is_resumed_each_time(stalled: bool) -> None:
    """The rest of a send started on the spot runs in a task through every wait it makes."""
    sent: list[bytes] = []
    expected = [b"x", b"y"] if stalled else [b"x"]
    done = asyncio.Event()

    async def send(data: bytes) -> None:
        await asyncio.sleep(0)  # two different waits inside one send
        await asyncio.sleep(0.01)
        sent.append(data)
        if len(sent) == len(expected):
            done.set()

    calls = Calls()
    outlet = Outlet(send, limit=5, on_last=lambda: None, on_error=calls.errors.append,
                    on_overflow=lambda: None)
    outlet.offer(b"x")
    if stalled:
        outlet.offer(b"y")
    await asyncio.wait_for(done.wait(), 5)
    await settle()  # nothing more arrives after the last
    assert sent == expected and calls.errors == []
