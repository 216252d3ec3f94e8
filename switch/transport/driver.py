"""Runs the sans-I/O :class:`~switch.sip.endpoint.Endpoint` on the asyncio loop.

The whole adapter (the aioquic ``asyncio/protocol.py`` idea): every input - a message from the
transports, a timer, a TU command - is passed to the endpoint with ``now``; then
:meth:`Driver.flush` sends what the endpoint queued, hands its events to ``on_event`` (which may
answer at once: the loop runs until both queues are empty) and re-arms ONE loop timer at
``endpoint.get_timer()``.

Wiring with the transport manager (each needs the other, so bind late)::

    transports = TransportManager(lambda d, p, l: driver.receive(d, p, l),
                                  on_connection_lost=lambda p: driver.connection_lost(p))
    driver = Driver(endpoint, transports, on_event=tu.on_event)

Clock: ``now`` comes from ``clock`` (default ``time.time``, the clock the node already passes to
the endpoint for its own calls, so every deadline in the endpoint is on one time base). The
loop timer is armed with the difference, so any clock works.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from switch.sip.address import Listener, Peer
from switch.sip.endpoint import Endpoint
from switch.sip.events import Event
from switch.sip.message import Request, Response

log = logging.getLogger(__name__)

# Events and sends produced while handling one input are bounded; this guards against a TU
# that answers every event with another request forever.
_MAX_ROUNDS = 10_000


class Sender(Protocol):
    """The part of ``TransportManager`` the driver uses."""

    def send(self, data: bytes, peer: Peer) -> None: ...


class Driver:
    def __init__(self, endpoint: Endpoint, transports: Sender,
                 on_event: Callable[[Event], None] | None = None, *,
                 clock: Callable[[], float] = time.time) -> None:
        self.endpoint = endpoint
        self.transports = transports
        self.on_event = on_event
        self.clock = clock
        self.closed = False
        self._timer: asyncio.TimerHandle | None = None
        self._armed_for: float | None = None
        self._flushing = False
        self._idle: asyncio.Event | None = None

    def now(self) -> float:
        """The time base of every deadline in the endpoint: use it for direct endpoint calls."""
        return self.clock()

    # -- inputs ---------------------------------------------------------------------------------

    def receive(self, data: bytes, peer: Peer, local: Listener) -> None:
        """The transports' ``on_message``: one complete message from ``peer``."""
        if self.closed:
            return
        self.endpoint.receive(data, peer, local, self.clock())
        self.flush()

    def connection_lost(self, peer: Peer) -> None:
        """The transports' ``on_connection_lost``: fail transactions bound to that connection."""
        if self.closed:
            return
        self.endpoint.transport_error(peer, self.clock())
        self.flush()

    # -- TU commands (wrappers that supply ``now`` and flush) ---------------------------------

    def send_request(self, request: Request, peer: Peer) -> str:
        key = self.endpoint.send_request(request, peer, self.clock())
        self.flush()
        return key

    def respond(self, request: Request, response: Response) -> None:
        self.endpoint.respond(request, response, self.clock())
        self.flush()

    def send_stateless(self, response: Response, peer: Peer) -> None:
        self.endpoint.send_stateless(response, peer)
        self.flush()

    # -- outputs --------------------------------------------------------------------------------

    def flush(self) -> None:
        """Send queued datagrams, deliver events, re-arm the timer (re-entrant safe)."""
        self._send_all()
        if self._flushing:
            return  # called from inside on_event: the outer loop delivers the rest
        self._flushing = True
        try:
            for _ in range(_MAX_ROUNDS):
                event = self.endpoint.next_event()
                if event is None:
                    break
                if self.on_event is not None:
                    try:
                        self.on_event(event)
                    except Exception:  # a TU bug must not stop the SIP core
                        log.exception("on_event failed for %r", event)
                self._send_all()
        finally:
            self._flushing = False
        self._arm()
        if self._idle is not None and self.endpoint.unfinished == 0:
            self._idle.set()

    def _send_all(self) -> None:
        for data, peer in self.endpoint.datagrams_to_send():
            try:
                self.transports.send(data, peer)
            except Exception:  # the transport logs and reports losses itself
                log.exception("send to %s failed", peer)

    # -- the one loop timer ---------------------------------------------------------------------

    def _arm(self) -> None:
        deadline = None if self.closed else self.endpoint.get_timer()
        if deadline == self._armed_for and (deadline is None or self._timer is not None):
            return
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_for = deadline
        if deadline is not None:
            loop = asyncio.get_running_loop()
            delay = max(0.0, deadline - self.clock())
            self._timer = loop.call_at(loop.time() + delay, self._on_timer)

    def _on_timer(self) -> None:
        armed = self._armed_for
        self._timer = None
        self._armed_for = None
        if self.closed:
            return
        now = self.clock()
        # The loop may wake a hair early (clock resolution): do not spin on it.
        if armed is not None and now < armed:
            now = armed
        self.endpoint.handle_timer(now)
        self.flush()

    # -- shutdown -------------------------------------------------------------------------------

    def close(self, grace: float = 0.0) -> asyncio.Future[None]:
        """Stop, after letting unfinished transactions finish for up to ``grace`` seconds.

        Returns an awaitable: ``await driver.close(2.0)`` drains; ``driver.close()`` stops now.
        "Unfinished" means still owing a final response or waiting for an ACK; transactions
        that only linger to absorb retransmissions (Timer J/K/D/I) do not hold the close.
        """
        loop = asyncio.get_running_loop()
        if grace <= 0 or self.endpoint.unfinished == 0:
            self._stop()
            done: asyncio.Future[None] = loop.create_future()
            done.set_result(None)
            return done
        self._idle = asyncio.Event()
        return asyncio.ensure_future(self._drain(self._idle, grace))

    async def _drain(self, idle: asyncio.Event, grace: float) -> None:
        try:
            await asyncio.wait_for(idle.wait(), timeout=grace)
        except TimeoutError:
            log.info("closing with %d unfinished SIP transactions", self.endpoint.unfinished)
        finally:
            self._stop()

    def _stop(self) -> None:
        self.closed = True
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self._armed_for = None
