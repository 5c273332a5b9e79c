"""An impaired network link between a network namespace and this host, emulated in userspace.

A measurement that asks "how does the service feel over a poor connection" runs its client
(a browser) in a network namespace that reaches this host only over an emulated link, whose
round trip, loss and rate come from a profile (`hpc_handbook.data.network_profiles`).

Why userspace: the usual tool, the `netem` queueing discipline, is a kernel module that many
kernels lack (the reference site's, for one), and a missing module cannot be loaded from a
test. Two TUN devices work wherever TUN devices do: one stays on the host, the other is moved
into the namespace, and a forwarder in this process (`link_forwarder`) reads each packet from
one device and writes it to the other with netem's semantics (delay, independent random loss,
rate, a queue limit). Both ends keep their real kernel TCP stacks, so they see real delay,
loss and retransmissions, as they would over netem.

`Link.cut()` drops every packet in both directions, those already on the way included, until
`Link.restore()`: a cable pulled out, not a closed connection, so TCP connections survive it
if it is short enough.

The link's ends are point-to-point addresses, 10.213.N.1 on the host and 10.213.N.2 in the
namespace, with N free on this host; the namespace has no default route and needs none. The
hub's proxy listens on loopback only, which the namespace cannot reach, so a TCP relay
(`link_relay`) listens on the host's end of the link and forwards each connection from the
namespace's end to a port on 127.0.0.1. Only the leg between the namespace and the relay
crosses the emulated link.

Everything is set up by `emulated_link` and removed when it exits, also on an exception,
KeyboardInterrupt or SIGTERM: the relay resets its open connections, the host's TCP forgets
those it was still closing, and the namespace and devices go. A run killed with SIGKILL leaves
its namespace behind (its devices go with its file descriptors); the names carry the pid, and
`sweep_stale_links`, which every new link calls first, removes those of dead runs.
"""

from __future__ import annotations

import contextlib
import fcntl
import itertools
import os
import re
import shutil
import signal
import struct
import subprocess
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from hpc_handbook.data.network_profiles import LinkProfile
from hpc_handbook.reference_site.link_forwarder import Forwarder, LinkCounters
from hpc_handbook.reference_site.link_relay import Relay

#: Names of what one link creates carry this prefix and the creating process's pid, so that
#: `sweep_stale_links` can tell the leftovers of a killed run from the links of a live one.
NAMESPACE_PREFIX = "hbk-link-"
DEVICE_PREFIX = "hbk"
_NAMESPACE_NAME = re.compile(rf"^{NAMESPACE_PREFIX}(?P<pid>\d+)-\d+$")
_DEVICE_NAME = re.compile(rf"^{DEVICE_PREFIX}(?P<pid>\d+)-\d+[hn]$")
#: The kernel's limit on an interface name (IFNAMSIZ less the final NUL).
MAX_DEVICE_NAME = 15

#: Link N has the point-to-point pair 10.213.N.1 (host) and 10.213.N.2 (namespace).
ADDRESS_PREFIX = "10.213"
MAX_LINKS = 256
#: Held while a link picks its N and claims it, so that parallel runs never pick the same one;
#: it holds the N to try next.
ADDRESS_LOCK = Path("/run/hbk-link.lock")

_TUNSETIFF = 0x400454CA
_IFF_TUN = 0x0001
_IFF_NO_PI = 0x1000

_link_numbers = itertools.count()


class LinkUnavailable(Exception):
    """The link cannot be set up here; `reason` says why, for a measurement that is skipped."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


@dataclass
class Link:
    """A namespace joined to this host by an emulated link, with a relay at the host's end."""

    profile: LinkProfile
    namespace: str
    host_device: str
    namespace_device: str
    host_address: str
    namespace_address: str
    #: The relay's port on `host_address`.
    port: int
    _forwarder: Forwarder = field(repr=False)

    @property
    def url(self) -> str:
        """The relayed service's address as a client in the namespace reaches it."""
        return f"http://{self.host_address}:{self.port}"

    def cut(self) -> None:
        """Drop every packet in both directions, those on the way included, until `restore`."""
        self._forwarder.set_cut(True)

    def restore(self) -> None:
        """End a cut: packets cross again, and TCP's next retransmissions get through."""
        self._forwarder.set_cut(False)

    @property
    def is_cut(self) -> bool:
        return self._forwarder.cut

    @property
    def counters(self) -> LinkCounters:
        """Packets forwarded and dropped so far, per direction."""
        return self._forwarder.counters()

    def namespace_command(self, argv: Sequence[str]) -> list[str]:
        """The command line that runs `argv` inside the namespace."""
        return ["ip", "netns", "exec", self.namespace, *argv]


@contextlib.contextmanager
def emulated_link(
    profile: LinkProfile, target_port: int, *, relay_port: int = 0, seed: int | None = None
) -> Iterator[Link]:
    """Join a new namespace to this host over a link with `profile`, relaying to 127.0.0.1:target_port.

    `relay_port` 0 lets the system pick the relay's port (see `Link.port` and `Link.url`);
    `seed` makes the random loss repeatable. Raises LinkUnavailable, with nothing left behind,
    when this machine cannot host the link (not root, no TUN devices, no `ip`, ...).

    Processes started in the namespace are the caller's to end before the link goes: the
    namespace's name is removed, but a process still in it keeps it (without its link) alive.
    SIGTERM is turned into SystemExit while the link is up when it is entered in the main
    thread and SIGTERM has its default action; otherwise a SIGTERM leaves the namespace to the
    next run's sweep.
    """
    _check_prerequisites()
    sweep_stale_links()
    parts = _Parts.named(next(_link_numbers) % 1000)
    termination = _Termination()
    try:
        termination.arm()
        yield parts.build(profile, target_port, relay_port=relay_port, seed=seed)
    finally:
        termination.hold()
        try:
            parts.remove()
        finally:
            termination.release()


@dataclass
class _Parts:
    """What one link is made of, as far as it was made: what `remove` takes down."""

    namespace: str
    host_device: str
    namespace_device: str
    fds: list[int] = field(default_factory=list)
    host_address: str | None = None
    forwarder: Forwarder | None = None
    relay: Relay | None = None

    @classmethod
    def named(cls, number: int) -> _Parts:
        pid = os.getpid()
        host_device, namespace_device = (f"{DEVICE_PREFIX}{pid}-{number}{end}" for end in "hn")
        return cls(f"{NAMESPACE_PREFIX}{pid}-{number}", host_device, namespace_device)

    def build(self, profile: LinkProfile, target_port: int, *, relay_port: int, seed: int | None) -> Link:
        namespace, host_device, namespace_device = self.namespace, self.host_device, self.namespace_device
        self.fds.append(_open_tun(host_device))
        self.fds.append(_open_tun(namespace_device))
        _ip("netns", "add", namespace)
        _ip("link", "set", namespace_device, "netns", namespace)
        _quiet_ipv6(host_device, namespace=None)
        _quiet_ipv6(namespace_device, namespace=namespace)
        with _claimed_link_index() as index:
            host_address, namespace_address = f"{ADDRESS_PREFIX}.{index}.1", f"{ADDRESS_PREFIX}.{index}.2"
            _ip("addr", "add", host_address, "peer", namespace_address, "dev", host_device)
            self.host_address = host_address
        _ip("link", "set", host_device, "up")
        _ip("-n", namespace, "addr", "add", namespace_address, "peer", host_address, "dev", namespace_device)
        _ip("-n", namespace, "link", "set", namespace_device, "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        self.forwarder = Forwarder(self.fds[0], self.fds[1], profile, seed)
        self.forwarder.start()
        self.relay = Relay(host_address, relay_port, target_port, peer=namespace_address)
        try:
            self.relay.start()
        except OSError as exc:
            raise LinkUnavailable(f"the relay cannot listen on {host_address}:{relay_port}: {exc}") from None
        return Link(
            profile=profile,
            namespace=namespace,
            host_device=host_device,
            namespace_device=namespace_device,
            host_address=host_address,
            namespace_address=namespace_address,
            port=self.relay.port,
            _forwarder=self.forwarder,
        )

    def remove(self) -> None:
        if self.relay is not None:
            self.relay.stop()
        if self.host_address is not None:
            _destroy_sockets(self.host_address)
        if self.forwarder is not None:
            self.forwarder.stop()
        # Closing a TUN device's last descriptor removes the device, in whichever namespace it is.
        for fd in self.fds:
            os.close(fd)
        _ip_quietly("netns", "del", self.namespace)
        present = set(_device_names())
        for device in (self.host_device, self.namespace_device):
            if device in present:
                _ip_quietly("link", "del", device)


def sweep_stale_links() -> list[str]:
    """Remove the namespaces and devices of links whose process is gone; return their names."""
    if shutil.which("ip") is None:
        return []
    removed = []
    listing = _ip_output("netns", "list")
    for name in (line.split()[0] for line in listing.splitlines() if line.strip()):
        match = _NAMESPACE_NAME.match(name)
        if match and not _alive(int(match["pid"])) and _ip_quietly("netns", "del", name):
            removed.append(name)
    for name in _device_names():
        match = _DEVICE_NAME.match(name)
        if match and not _alive(int(match["pid"])) and _ip_quietly("link", "del", name):
            removed.append(name)
    return removed


class _Termination:
    """Turn SIGTERM into SystemExit while a link is up, so that its cleanup runs.

    Only where SIGTERM still has its default action (a program with its own handler decides
    for itself), and only in the main thread (the only one that may set handlers). A SIGTERM
    during cleanup waits until cleanup is done, then acts as it would have.
    """

    def __init__(self) -> None:
        self.armed = False
        self.pending = False

    def arm(self) -> None:
        if threading.current_thread() is threading.main_thread():
            if signal.getsignal(signal.SIGTERM) == signal.SIG_DFL:
                signal.signal(signal.SIGTERM, self._exit)
                self.armed = True

    def hold(self) -> None:
        if self.armed:
            signal.signal(signal.SIGTERM, self._defer)

    def release(self) -> None:
        if self.armed:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)
            if self.pending:
                signal.raise_signal(signal.SIGTERM)

    @staticmethod
    def _exit(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(128 + signum)

    def _defer(self, signum: int, frame: FrameType | None) -> None:
        self.pending = True


def _check_prerequisites() -> None:
    if os.geteuid() != 0:
        raise LinkUnavailable("an emulated link needs root: it creates a network namespace and TUN devices")
    if not os.path.exists("/dev/net/tun"):
        raise LinkUnavailable("this machine has no /dev/net/tun, so no TUN devices")
    if shutil.which("ip") is None:
        raise LinkUnavailable("the `ip` command (iproute2) is not installed")


def _open_tun(name: str) -> int:
    if len(name) > MAX_DEVICE_NAME:
        raise LinkUnavailable(f"the device name {name} is longer than {MAX_DEVICE_NAME} characters")
    try:
        fd = os.open("/dev/net/tun", os.O_RDWR | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError as exc:
        raise LinkUnavailable(f"cannot open /dev/net/tun: {exc.strerror}") from None
    try:
        fcntl.ioctl(fd, _TUNSETIFF, struct.pack("16sH22x", name.encode(), _IFF_TUN | _IFF_NO_PI))
    except OSError as exc:
        os.close(fd)
        raise LinkUnavailable(f"cannot create the TUN device {name}: {exc.strerror}") from None
    return fd


@contextlib.contextmanager
def _claimed_link_index() -> Iterator[int]:
    """A link number no other link uses, held until its host address is on its device.

    Numbers are handed out in turn, not lowest first: the host's TCP may go on retransmitting to
    a removed link's namespace address for a minute or two (a FIN that was never answered), and
    a new link with that address would receive those packets.
    """
    with open(ADDRESS_LOCK, "a+", encoding="utf-8") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        lock.seek(0)
        text = lock.read().strip()
        start = int(text) if text.isdigit() else 0
        listing = _ip_output("-o", "-4", "addr", "show")
        taken = {int(m) for m in re.findall(rf"inet {re.escape(ADDRESS_PREFIX)}\.(\d+)\.", listing)}
        free = [n % MAX_LINKS for n in range(start, start + MAX_LINKS) if n % MAX_LINKS not in taken]
        if not free:
            raise LinkUnavailable(f"all {MAX_LINKS} link addresses {ADDRESS_PREFIX}.N.1 are in use")
        lock.seek(0)
        lock.truncate()
        lock.write(f"{(free[0] + 1) % MAX_LINKS}\n")
        lock.flush()
        yield free[0]


def _quiet_ipv6(device: str, *, namespace: str | None) -> None:
    # Without IPv6 a device sends nothing of its own (router solicitations, MLD reports), so the
    # counters count only the traffic of the measurement.
    setting = f"net.ipv6.conf.{device}.disable_ipv6=1"
    prefix = [] if namespace is None else ["ip", "netns", "exec", namespace]
    subprocess.run([*prefix, "sysctl", "-q", "-w", setting], capture_output=True, check=False)


def _destroy_sockets(address: str) -> None:
    # A connection the relay closed just before the link went waits for its last ACK and goes on
    # retransmitting to the namespace for minutes; the kernel drops it at once if asked (where it
    # is built with INET_DIAG_DESTROY; elsewhere it times out on its own).
    if shutil.which("ss") is not None:
        subprocess.run(["ss", "-K", "-t", "-n", "src", address], capture_output=True, check=False)


def _device_names() -> list[str]:
    listing = _ip_output("-o", "link", "show")
    return [m.group(1) for m in re.finditer(r"^\d+: ([^:@\s]+)", listing, re.MULTILINE)]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _ip(*args: str) -> None:
    result = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if result.returncode != 0:
        problem = result.stderr.strip() or f"exit code {result.returncode}"
        raise LinkUnavailable(f"`ip {' '.join(args)}` failed: {problem}")


def _ip_quietly(*args: str) -> bool:
    """Run `ip` where failing is no error (removing what may be gone); True if it succeeded."""
    return subprocess.run(["ip", *args], capture_output=True, check=False).returncode == 0


def _ip_output(*args: str) -> str:
    return subprocess.run(["ip", *args], capture_output=True, text=True, check=False).stdout
