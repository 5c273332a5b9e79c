"""Move packets between the two TUN devices of an emulated link, with a profile's delay, loss and rate.

One thread reads each packet from one device and writes it to the other, per direction and
independently, with netem's semantics:

- loss: each packet is dropped with the profile's probability (before it is queued);
- rate: a packet occupies the link for size * 8 / rate seconds, after the packets before it
  (departure = max(now, previous departure) + size * 8 / rate);
- delay: it arrives half the profile's round trip after its departure;
- limit: at most QUEUE_LIMIT packets wait in a direction; the next is dropped.

A cut drops every packet, those already on the way included. The forwarder is Python, which
keeps up with the profiles' rates (tens of Mbit/s), not with a fast LAN's.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import selectors
import threading
import time
from collections import deque
from dataclasses import dataclass, fields

from hpc_handbook.data.network_profiles import LinkProfile

#: netem's default limit: packets that may wait in one direction before the next is dropped.
QUEUE_LIMIT = 1000
#: Larger than any packet a TUN device without offloads hands over (its MTU is 1500).
READ_SIZE = 65536
#: At most this many packets are read from one device before the other gets its turn.
READ_BURST = 64
#: How long stopping the thread may take before cleanup goes on without it.
STOP_TIMEOUT_S = 5.0
#: The thread's name; it starts like the names of everything else a link makes.
THREAD_NAME = "hbk-link-forwarder"


@dataclass(frozen=True)
class DirectionCounters:
    """What happened so far to the packets that one end of the link sent to the other."""

    #: Read from the sending end's device.
    sent: int = 0
    #: Written to the receiving end's device.
    forwarded: int = 0
    #: Dropped by the profile's random loss.
    lost: int = 0
    #: Dropped because QUEUE_LIMIT packets were already waiting.
    overflowed: int = 0
    #: Dropped while the link was cut.
    cut: int = 0
    #: Could not be written to the other device (it was gone or down).
    failed: int = 0
    forwarded_bytes: int = 0

    @property
    def dropped(self) -> int:
        return self.lost + self.overflowed + self.cut + self.failed

    @property
    def waiting(self) -> int:
        """Packets on the way: neither forwarded nor dropped yet."""
        return self.sent - self.forwarded - self.dropped


@dataclass(frozen=True)
class LinkCounters:
    """Both directions' counters, taken at one moment."""

    to_namespace: DirectionCounters
    to_host: DirectionCounters


class _Direction:
    """One direction's queue: packets with the time they arrive at the other end."""

    def __init__(self, out_fd: int, profile: LinkProfile, rng: random.Random) -> None:
        self.out_fd = out_fd
        self.one_way_s = profile.round_trip_ms / 2000
        self.loss = profile.loss_percent / 100
        self.bits_per_s = profile.rate_mbit * 1_000_000
        self.rng = rng
        self.queue: deque[tuple[float, bytes]] = deque()
        self.free_at = 0.0
        self.counts = {counter.name: 0 for counter in fields(DirectionCounters)}

    def accept(self, packet: bytes, now: float, *, cut: bool) -> None:
        self.counts["sent"] += 1
        if cut:
            self.counts["cut"] += 1
        elif self.loss and self.rng.random() < self.loss:
            self.counts["lost"] += 1
        elif len(self.queue) >= QUEUE_LIMIT:
            self.counts["overflowed"] += 1
        else:
            self.free_at = max(now, self.free_at) + len(packet) * 8 / self.bits_per_s
            self.queue.append((self.free_at + self.one_way_s, packet))

    def deliver(self, now: float, *, cut: bool) -> None:
        # Departures only grow and the delay is constant, so arrivals leave in queue order.
        while self.queue and self.queue[0][0] <= now:
            _, packet = self.queue.popleft()
            if cut:
                self.counts["cut"] += 1
                continue
            try:
                os.write(self.out_fd, packet)
            except OSError:
                self.counts["failed"] += 1
            else:
                self.counts["forwarded"] += 1
                self.counts["forwarded_bytes"] += len(packet)

    def next_arrival(self) -> float | None:
        return self.queue[0][0] if self.queue else None

    def counters(self) -> DirectionCounters:
        return DirectionCounters(**self.counts)


class Forwarder:
    """Moves packets between the two devices in one thread, through a direction's queue each way."""

    def __init__(self, host_fd: int, namespace_fd: int, profile: LinkProfile, seed: int | None) -> None:
        rng = random.Random(seed)
        self.host_fd = host_fd
        self.namespace_fd = namespace_fd
        self.to_namespace = _Direction(namespace_fd, profile, rng)
        self.to_host = _Direction(host_fd, profile, rng)
        self.cut = False
        # Held while packets are moved, so that once `set_cut` returns no packet crosses, and
        # counters are taken between packets.
        self._lock = threading.Lock()
        self._stopping = False
        self._wake_read, self._wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            os.write(self._wake_write, b"x")
        self._thread.join(STOP_TIMEOUT_S)
        os.close(self._wake_read)
        os.close(self._wake_write)

    def set_cut(self, cut: bool) -> None:
        with self._lock:
            self.cut = cut

    def counters(self) -> LinkCounters:
        with self._lock:
            return LinkCounters(to_namespace=self.to_namespace.counters(), to_host=self.to_host.counters())

    def _run(self) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(self.host_fd, selectors.EVENT_READ, self.to_namespace)
            selector.register(self.namespace_fd, selectors.EVENT_READ, self.to_host)
            selector.register(self._wake_read, selectors.EVENT_READ, None)
            directions = (self.to_namespace, self.to_host)
            while not self._stopping:
                arrivals = [a for a in (d.next_arrival() for d in directions) if a is not None]
                timeout = max(0.0, min(arrivals) - time.monotonic()) if arrivals else None
                ready = selector.select(timeout)
                with self._lock:
                    for key, _ in ready:
                        if key.data is not None:
                            self._read(key.fd, key.data)
                    now = time.monotonic()
                    for direction in directions:
                        direction.deliver(now, cut=self.cut)

    def _read(self, fd: int, direction: _Direction) -> None:
        for _ in range(READ_BURST):
            try:
                packet = os.read(fd, READ_SIZE)
            except BlockingIOError:
                return
            except OSError as exc:
                # A device that is down answers EIO until it is up again; nothing to read then.
                if exc.errno in {errno.EIO, errno.EBADFD}:
                    return
                raise
            direction.accept(packet, time.monotonic(), cut=self.cut)
