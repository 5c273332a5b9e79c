"""The emulated network link: its profiles file, and its delay, rate, loss, cut and cleanup, measured.

The link tests need root and network namespaces; where the link cannot be set up they are
skipped with the reason. Each measures from a client run inside the namespace, as the
browser of a measurement would be.
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import random
import signal
import socket
import socketserver
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest
import yaml

from hpc_handbook.data.network_profiles import LinkProfile, link_profiles
from hpc_handbook.errors import HandbookInputError
from hpc_handbook.reference_site import network_link
from hpc_handbook.reference_site.network_link import (
    NAMESPACE_PREFIX,
    Link,
    LinkUnavailable,
    emulated_link,
    sweep_stale_links,
)

#: The poor profile without its loss: a lost SYN would add a second's retransmission to a timing.
POOR_NO_LOSS = link_profiles()["poor"].model_copy(update={"loss_percent": 0.0})
#: Fast enough that a megabyte takes one second, which keeps the rate test short.
EIGHT_MBIT = LinkProfile(name="eight", description="test", round_trip_ms=20, loss_percent=0, rate_mbit=8)
LOSSY = LinkProfile(name="lossy", description="test", round_trip_ms=10, loss_percent=20, rate_mbit=1000)
FAST = LinkProfile(name="fast", description="test", round_trip_ms=20, loss_percent=0, rate_mbit=1000)
#: How much later than the profile's figures a measurement may come (scheduling, Python's start).
MARGIN_S = 0.08

Test = TypeVar("Test", bound=Callable[..., None])


def needs_link(test: Test) -> Test:
    """A test that sets up links: slow, and skipped with the reason where no link can be set up."""
    marked: Test = pytest.mark.slow(pytest.mark.usefixtures("link_support")(test))
    return marked


@pytest.fixture(scope="module")
def link_support() -> None:
    try:
        with emulated_link(FAST, 1):
            pass
    except LinkUnavailable as unavailable:
        pytest.skip(f"no emulated link here: {unavailable.reason}")


# --- Servers on loopback, where the hub's proxy listens --------------------------------------------


def body(size: int) -> bytes:
    return random.Random(size).randbytes(size)


class _BytesHandler(http.server.BaseHTTPRequestHandler):
    """`GET /N` answers N bytes that the client can check against `body(N)`."""

    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        data = body(int(self.path.strip("/")))
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def http_port() -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _BytesHandler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join()


class _EchoHandler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        while data := self.request.recv(65536):
            assert isinstance(self.server, _EchoServer)
            self.server.received.append((time.monotonic(), data))
            self.request.sendall(data)


class _EchoServer(socketserver.ThreadingTCPServer):
    # socketserver's default backlog of 5 resets some of many connections that open at once.
    request_queue_size = 128
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.received: list[tuple[float, bytes]] = []


@pytest.fixture
def echo_server() -> Iterator[_EchoServer]:
    server = _EchoServer()
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


# --- Clients inside the namespace -----------------------------------------------------------------

CONNECT_TIMES = """
import socket, sys, time
for _ in range(3):
    start = time.monotonic()
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10):
        print(time.monotonic() - start)
"""

DOWNLOAD = """
import hashlib, http.client, sys, time
connection = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=60)
connection.connect()
start = time.monotonic()
connection.request("GET", "/" + sys.argv[3])
data = connection.getresponse().read()
print(time.monotonic() - start, len(data), hashlib.sha256(data).hexdigest())
"""

UDP_BURSTS = """
import socket, sys, time
sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
for burst in range(20):
    for number in range(100):
        sender.sendto(b"%d" % (burst * 100 + number), (sys.argv[1], int(sys.argv[2])))
    time.sleep(0.01)
"""

ECHO_ACROSS_CUT = """
import socket, sys, time
connection = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30)
connection.sendall(b"before")
assert connection.recv(100) == b"before"
print("connected", flush=True)
sys.stdin.readline()
start = time.monotonic()
connection.sendall(b"during")
data = connection.recv(100)
print(time.monotonic() - start, data.decode(), flush=True)
"""

MANY_HALF_CLOSED = """
import socket, sys, threading
answers = {}
def converse(number):
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=30) as connection:
        connection.sendall(b"%d " % number * 10000)
        # Half-closed: the echo server sees the end of the request and still answers all of it.
        connection.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := connection.recv(65536):
            chunks.append(chunk)
        answers[number] = b"".join(chunks) == b"%d " % number * 10000
threads = [threading.Thread(target=converse, args=(n,)) for n in range(int(sys.argv[3]))]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(sum(answers.values()))
"""

HOLD_LINK = """
import sys, time
from hpc_handbook.data.network_profiles import LinkProfile
from hpc_handbook.reference_site.network_link import emulated_link
profile = LinkProfile(name="held", description="test", round_trip_ms=20, loss_percent=0, rate_mbit=100)
with emulated_link(profile, 1) as link:
    print(link.namespace, link.host_device, link.namespace_device, flush=True)
    time.sleep(60)
"""


def in_namespace(link: Link, code: str, *args: object) -> str:
    argv = [sys.executable, "-c", code, link.host_address, str(link.port), *map(str, args)]
    done = subprocess.run(link.namespace_command(argv), capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout


def sockets(address: str) -> list[str]:
    """The TCP connections of this host's end of a link, but those that only wait out TIME-WAIT."""
    listing = subprocess.run(["ss", "-t", "-n", "-H", "src", address], capture_output=True, text=True).stdout
    return [line for line in listing.splitlines() if not line.startswith("TIME-WAIT")]


def devices() -> str:
    return subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True, check=True).stdout


# --- Profiles -------------------------------------------------------------------------------------


def test_the_handbooks_profiles_include_a_good_and_a_poor_link_described_for_readers() -> None:
    profiles = link_profiles()
    assert {"good", "poor"} <= set(profiles)
    assert profiles["poor"].round_trip_ms > profiles["good"].round_trip_ms
    assert profiles["poor"].rate_mbit < profiles["good"].rate_mbit
    for name, profile in profiles.items():
        assert profile.name == name
        assert profile.description.strip() and "\n" not in profile.description


GOOD_ENTRY = {"description": "d", "round_trip_ms": 300, "loss_percent": 1, "rate_mbit": 2}


@pytest.mark.parametrize(
    ("change", "key"),
    [
        ({"rate_mbit": None}, "rate_mbit"),
        ({"round_trip_ms": "slow"}, "round_trip_ms"),
        ({"loss_percent": 120}, "loss_percent"),
    ],
    ids=["missing-key", "wrong-type", "out-of-range"],
)
def test_a_bad_profile_is_an_error_naming_the_file_and_the_key(
    tmp_path: Path, change: dict[str, object], key: str
) -> None:
    entry = {k: v for k, v in (GOOD_ENTRY | change).items() if v is not None}
    path = tmp_path / "network_profiles.yml"
    path.write_text(yaml.safe_dump({"profiles": {"poor": entry}}), encoding="utf-8")
    with pytest.raises(HandbookInputError) as raised:
        link_profiles(path)
    assert raised.value.file == str(path)
    assert raised.value.where == f"profiles.poor.{key}"


def test_without_root_the_link_is_unavailable_with_the_reason(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(network_link.os, "geteuid", lambda: 1000)
    with pytest.raises(LinkUnavailable, match="needs root"), emulated_link(FAST, 1):
        pass


# --- The link -------------------------------------------------------------------------------------


@needs_link
def test_a_connection_takes_the_profiles_round_trip(http_port: int) -> None:
    rtt_s = POOR_NO_LOSS.round_trip_ms / 1000
    with emulated_link(POOR_NO_LOSS, http_port) as link:
        connects = [float(line) for line in in_namespace(link, CONNECT_TIMES).split()]
        # A request on a connection that is open takes one round trip more than its connect.
        request = float(in_namespace(link, DOWNLOAD, 100).split()[0])
    # Never faster than the profile; the quickest try shows what the link adds, the others may
    # also show a busy machine's scheduling.
    assert all(rtt_s <= connect < 2 * rtt_s for connect in connects), connects
    assert min(connects) < rtt_s + MARGIN_S, connects
    assert rtt_s <= request < 2 * rtt_s


@needs_link
def test_a_download_takes_its_size_over_the_profiles_rate(http_port: int) -> None:
    size = 1_000_000
    with emulated_link(EIGHT_MBIT, http_port) as link:
        seconds, length, digest = in_namespace(link, DOWNLOAD, size).split()
        counters = link.counters
    payload_s = size * 8 / (EIGHT_MBIT.rate_mbit * 1e6)
    # IP and TCP headers add about 3 %, slow start a few round trips; a busy machine more.
    assert payload_s <= float(seconds) < payload_s * 1.5
    assert (int(length), digest) == (size, hashlib.sha256(body(size)).hexdigest())
    assert counters.to_namespace.forwarded_bytes > size
    assert counters.to_namespace.dropped == counters.to_host.dropped == 0


@needs_link
def test_each_packet_is_lost_with_the_profiles_probability() -> None:
    with emulated_link(LOSSY, 1) as link:
        receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        with receiver:
            receiver.bind((link.host_address, 0))
            receiver.settimeout(0.5)
            argv = [sys.executable, "-c", UDP_BURSTS, link.host_address, str(receiver.getsockname()[1])]
            with subprocess.Popen(link.namespace_command(argv)) as sender:
                arrived = set()
                while True:
                    try:
                        arrived.add(int(receiver.recv(100)))
                    except TimeoutError:
                        if sender.poll() is not None:
                            break
            assert sender.returncode == 0
        counters = link.counters.to_host
    assert counters.sent == 2000
    assert counters.forwarded == len(arrived)
    assert 0.15 < counters.lost / counters.sent < 0.25
    assert counters.overflowed == counters.cut == counters.failed == 0


@needs_link
def test_tcp_delivers_the_data_intact_over_a_lossy_link(http_port: int) -> None:
    size = 100_000
    with emulated_link(LOSSY, http_port, seed=1) as link:
        _, length, digest = in_namespace(link, DOWNLOAD, size).split()
        counters = link.counters
    assert (int(length), digest) == (size, hashlib.sha256(body(size)).hexdigest())
    assert counters.to_namespace.lost > 0 and counters.to_host.lost > 0


@needs_link
def test_a_connection_survives_a_cut_and_nothing_crosses_while_it_lasts(
    echo_server: _EchoServer,
) -> None:
    cut_s = 3.0
    with emulated_link(FAST, echo_server.server_address[1]) as link:
        argv = [sys.executable, "-c", ECHO_ACROSS_CUT, link.host_address, str(link.port)]
        with subprocess.Popen(
            link.namespace_command(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        ) as client:
            assert client.stdin is not None and client.stdout is not None
            assert client.stdout.readline() == "connected\n"
            link.cut()
            before = link.counters
            client.stdin.write("send\n")
            client.stdin.flush()
            time.sleep(cut_s)
            during = link.counters
            link.restore()
            restored_at = time.monotonic()
            seconds, echoed = client.stdout.readline().split()
            assert client.wait(10) == 0
    for direction in ("to_namespace", "to_host"):
        assert getattr(during, direction).forwarded == getattr(before, direction).forwarded
    # TCP kept retransmitting into the cut.
    assert during.to_host.cut - before.to_host.cut >= 2
    assert echoed == "during"
    assert cut_s <= float(seconds) < cut_s + 5
    received = echo_server.received
    assert [data for _, data in received] == [b"before", b"during"]
    assert received[1][0] >= restored_at


@needs_link
def test_the_relay_carries_many_concurrent_half_closed_connections(
    echo_server: _EchoServer,
) -> None:
    with emulated_link(FAST, echo_server.server_address[1]) as link:
        assert in_namespace(link, MANY_HALF_CLOSED, 30).split() == ["30"]


@needs_link
def test_only_the_namespace_reaches_the_service_through_the_relay(echo_server: _EchoServer) -> None:
    with emulated_link(FAST, echo_server.server_address[1]) as link:
        with socket.create_connection((link.host_address, link.port), timeout=5) as from_the_host:
            # Closed at once: what it would have sent is never read.
            assert from_the_host.recv(100) == b""
        assert not echo_server.received
        assert in_namespace(link, MANY_HALF_CLOSED, 1).split() == ["1"]


@needs_link
@pytest.mark.parametrize(
    "ending", [None, RuntimeError, KeyboardInterrupt], ids=["return", "error", "interrupt"]
)
def test_a_link_leaves_nothing_behind(echo_server: _EchoServer, ending: type[BaseException] | None) -> None:
    with contextlib.ExitStack() as clients:
        with contextlib.ExitStack() as stack:
            if ending is not None:
                stack.enter_context(pytest.raises(ending))
            link = stack.enter_context(emulated_link(FAST, echo_server.server_address[1]))
            assert link.namespace in namespaces()
            assert link.host_device in devices()
            # A connection that is still open when the link goes: its client ends only afterwards.
            argv = [sys.executable, "-c", ECHO_ACROSS_CUT, link.host_address, str(link.port)]
            client = clients.enter_context(
                subprocess.Popen(
                    link.namespace_command(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
                )
            )
            clients.callback(client.kill)
            assert client.stdout is not None and client.stdout.readline() == "connected\n"
            if ending is not None:
                raise ending
        assert link.namespace not in namespaces()
        assert link.host_device not in devices() and link.namespace_device not in devices()
        assert not sockets(link.host_address)
        assert not [t.name for t in threading.enumerate() if t.name.startswith(NAMESPACE_PREFIX)]


@contextlib.contextmanager
def link_holder() -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """A process that holds a link, with the names of the namespace and the devices it made."""
    with subprocess.Popen([sys.executable, "-c", HOLD_LINK], stdout=subprocess.PIPE, text=True) as holder:
        try:
            assert holder.stdout is not None
            namespace, *names = holder.stdout.readline().split()
            yield holder, namespace, names
        finally:
            if holder.poll() is None:
                holder.kill()


@needs_link
def test_a_link_is_removed_when_its_process_gets_sigterm() -> None:
    with link_holder() as (holder, namespace, names):
        assert namespace in namespaces()
        holder.send_signal(signal.SIGTERM)
        assert holder.wait(10) == 128 + signal.SIGTERM
    assert namespace not in namespaces()
    assert not [name for name in names if name in devices()]


@needs_link
def test_the_leftovers_of_a_killed_run_are_swept() -> None:
    with link_holder() as (holder, namespace, names):
        holder.kill()
        holder.wait(10)
    assert namespace in namespaces()
    assert namespace in sweep_stale_links()
    assert namespace not in namespaces()
    assert not [name for name in names if name in devices()]
