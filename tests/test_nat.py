"""A server behind a one-to-one NAT: its answers announce the public address, its media sockets stay in
the configured port range, and clients that can reach it only through the NAT call it.

The NAT is simulated on loopback: 127.0.0.2 plays the public address, and a UDP forwarder maps each
port of the range on it to the same port on 127.0.0.1, where the server's sockets are (as a cloud
provider's NAT maps a public IP to a VM's private one). The clients' own candidates are rewritten to
an address nobody can reach, and only the public candidates of the server's answer are given to them,
so the forwarder is the only way their media can take.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from pathlib import Path

import aiohttp
import aioice.ice
import numpy as np
import pytest
from aiortc import RTCPeerConnection, RTCSessionDescription
from aiortc.mediastreams import MediaStreamError

from server.cli import main
from server.errors import BackdropError
from server.loadtest.participant import FrameSourceTrack
from server.rtc.nat import (announce_public_addresses, bind_ice_sockets_within, check_public_addresses,
                            parse_port_range)
from server.rtc.peers import close_quietly
from server.settings import Settings
from server.web.app import create_app
from tests.server_harness import ServerThread, eventually

PUBLIC, PRIVATE = "127.0.0.2", "127.0.0.1"
UNREACHABLE = "203.0.113.9"  # TEST-NET-3: nothing answers there

ANSWER = ("v=0\r\nc=IN IP4 192.0.2.2\r\nm=video 41003 UDP/TLS/RTP/SAVPF 96\r\n"
          "a=candidate:1 1 udp 2130706431 192.0.2.2 41003 typ host\r\n"
          "a=candidate:2 1 udp 2130706431 fd00::2 41004 typ host\r\n"
          "a=candidate:3 1 udp 1694498815 198.51.100.4 5000 typ srflx raddr 192.0.2.2 rport 41003\r\n")


def test_answers_announce_the_public_address_in_place_of_the_interfaces() -> None:
    announced = announce_public_addresses(ANSWER, ("203.0.113.7",))
    assert "c=IN IP4 203.0.113.7" in announced
    assert "a=candidate:1 1 udp 2130706431 203.0.113.7 41003 typ host" in announced
    assert "a=candidate:2 1 udp 2130706431 fd00::2 41004 typ host" in announced  # no IPv6 given: kept
    assert "typ srflx raddr 192.0.2.2 rport 41003" in announced  # only host candidates are mapped
    both = announce_public_addresses(ANSWER, ("203.0.113.7", "2001:db8::7"))
    assert "a=candidate:2 1 udp 2130706431 2001:db8::7 41004 typ host" in both
    assert announce_public_addresses(ANSWER, ()) == ANSWER


@pytest.mark.parametrize("addresses, fragment", [
    (("turn.example.com",),  "not a host name"),
    (("0.0.0.0",), "not a unicast"),
    (("203.0.113.7", "198.51.100.1"), "at most one public IPv4"),
])
def test_bad_public_addresses_are_refused(addresses: tuple[str, ...], fragment: str, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=fragment):
        check_public_addresses(addresses)
    with pytest.raises(BackdropError, match=fragment):
        create_app(Settings(data_dir=tmp_path, public_addresses=addresses))


@pytest.mark.parametrize("text", ["40000", "40199-40000", "80-90", "40000-70000", "a-b"])
def test_bad_port_ranges_are_refused(text: str, capsys) -> None:
    with pytest.raises(ValueError, match="ICE port range"):
        parse_port_range(text)
    assert main(["serve", "--ice-ports", text]) == 2
    assert "ICE port range" in capsys.readouterr().err
    assert parse_port_range(" 40000 - 40199 ") == (40000, 40199)


def free_udp_range(size: int) -> tuple[int, int]:
    """A run of ``size`` UDP ports free on both loopback addresses (checked by binding them)."""
    for low in range(42000, 60000, size):
        sockets = []
        try:
            for port in range(low, low + size):
                for host in (PRIVATE, PUBLIC):
                    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                    sockets.append(sock)
                    sock.bind((host, port))
            return low, low + size - 1
        except OSError:
            continue
        finally:
            for sock in sockets:
                sock.close()
    raise RuntimeError("no free UDP port range")


async def gathered_ports(connection_count: int) -> list[int]:
    ports = []
    for _ in range(connection_count):
        connection = aioice.ice.Connection(ice_controlling=True, use_ipv6=False)
        await connection.gather_candidates()
        ports += [c.port for c in connection.local_candidates]
        await connection.close()
    return ports


def test_ice_sockets_bind_within_the_range_on_the_servers_loop_only(caplog) -> None:
    low, high = free_udp_range(4)

    async def on_the_servers_loop() -> list[int]:
        bind_ice_sockets_within(asyncio.get_running_loop(), (low, high))
        return await gathered_ports(3)

    ports = asyncio.run(on_the_servers_loop())
    assert ports and all(low <= port <= high for port in ports)
    # Another loop (a client in the same process) keeps the kernel's ephemeral ports.
    assert not any(low <= port <= high for port in asyncio.run(gathered_ports(3)))

    async def with_the_range_taken() -> list[int]:
        bind_ice_sockets_within(asyncio.get_running_loop(), (low, low))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
            taken.bind(("0.0.0.0", low))
            return await gathered_ports(1)

    with caplog.at_level(logging.WARNING, logger="server.rtc.nat"):
        assert asyncio.run(with_the_range_taken()) == []
    assert f"every UDP port of the ICE range {low}-{low} is taken" in caplog.text


class OneToOneNat:
    """Forwards datagrams arriving on PUBLIC:port, for each port of the range, to PRIVATE:port, and the
    replies back; one upstream socket per client address, as a NAT keeps one mapping per flow."""

    def __init__(self, ports: tuple[int, int]) -> None:
        self.ports = ports
        self.inbound: dict[int, int] = {}  # datagrams per public port, client to server
        self.outbound: dict[int, int] = {}  # server to client
        self._listeners: dict[int, asyncio.DatagramTransport] = {}
        self._upstreams: dict[tuple[int, tuple], asyncio.DatagramTransport] = {}

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        for port in range(self.ports[0], self.ports[1] + 1):
            transport, _ = await loop.create_datagram_endpoint(
                lambda port=port: _Datagrams(lambda data, client: self._from_client(port, data, client)),
                local_addr=(PUBLIC, port))
            self._listeners[port] = transport

    def _from_client(self, port: int, data: bytes, client: tuple) -> None:
        self.inbound[port] = self.inbound.get(port, 0) + 1
        upstream = self._upstreams.get((port, client))
        if upstream is None:
            asyncio.ensure_future(self._open_upstream(port, client, data))
        else:
            upstream.sendto(data)

    async def _open_upstream(self, port: int, client: tuple, first: bytes) -> None:
        def to_client(data: bytes, _server: tuple) -> None:
            self.outbound[port] = self.outbound.get(port, 0) + 1
            self._listeners[port].sendto(data, client)

        transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
            lambda: _Datagrams(to_client), remote_addr=(PRIVATE, port))
        self._upstreams[(port, client)] = transport
        transport.sendto(first)

    def close(self) -> None:
        for transport in [*self._listeners.values(), *self._upstreams.values()]:
            transport.close()


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, on_datagram) -> None:
        self._on_datagram = on_datagram

    def datagram_received(self, data: bytes, addr: tuple) -> None:
        self._on_datagram(data, addr)

    def error_received(self, exc: Exception) -> None:  # a port with nobody behind it: dropped, as a NAT does
        pass


def unreachable_candidates(sdp: str) -> str:
    """A client's offer as seen from the internet behind its own NAT: its candidates lead nowhere."""
    lines = []
    for line in sdp.split("\r\n"):
        if line.startswith("a=candidate:"):
            fields = line.split(" ")
            if ipaddress.ip_address(fields[4]).version != 4:
                continue
            fields[4] = UNREACHABLE
            line = " ".join(fields)
        lines.append(line)
    return "\r\n".join(lines)


def host_candidates(sdp: str) -> list[tuple[str, int]]:
    return [(f[4], int(f[5])) for f in (line.split(" ") for line in sdp.split("\r\n")
                                         if line.startswith("a=candidate:")) if f[7] == "host"]


def reachable_from_the_internet(sdp: str) -> str:
    """What a client on the internet can use of the server's answer: the public address only."""
    return "\r\n".join(line for line in sdp.split("\r\n")
                       if not line.startswith("a=candidate:") or line.split(" ")[4] == PUBLIC)


async def call_through_nat(url: str, pc: RTCPeerConnection, answers: list[str]) -> str:
    await pc.setLocalDescription(await pc.createOffer())
    async with aiohttp.ClientSession() as http:
        async with http.post(url, data=unreachable_candidates(pc.localDescription.sdp),
                             headers={"Content-Type": "application/sdp"}) as response:
            assert response.status == 201, await response.text()
            answer = await response.text()
    answers.append(answer)
    await pc.setRemoteDescription(RTCSessionDescription(reachable_from_the_internet(answer), "answer"))
    return response.headers["Location"]


@pytest.mark.slow
def test_clients_reach_a_server_behind_a_one_to_one_nat(tmp_path: Path, astronaut: np.ndarray) -> None:
    ports = free_udp_range(12)
    server = ServerThread(tmp_path / "data", public_addresses=(PUBLIC,), ice_ports=ports).start()

    async def scenario() -> None:
        nat = OneToOneNat(ports)
        await nat.start()
        publisher, viewer = RTCPeerConnection(), RTCPeerConnection()
        frames: list[int] = []
        try:
            publisher.addTransceiver(FrameSourceTrack(lambda i: np.roll(astronaut, i % 7, axis=1)),
                                     direction="sendonly")
            answers: list[str] = []
            await call_through_nat(f"{server.url}/whip/behind-nat?name=anchor", publisher, answers)
            viewer.addTransceiver("video", direction="recvonly")

            @viewer.on("track")
            def on_track(track) -> None:
                async def count() -> None:
                    try:
                        while True:
                            await track.recv()
                            frames.append(1)
                    except MediaStreamError:
                        pass
                asyncio.ensure_future(count())

            await call_through_nat(f"{server.url}/whep/behind-nat?participant=anchor", viewer, answers)
            assert await eventually(lambda: len(frames) >= 20, timeout=30), f"{len(frames)} frames played"
            # Every IPv4 host candidate named the public address; every socket was in the range.
            for answer in answers:
                candidates = host_candidates(answer)
                assert candidates and all(ports[0] <= port <= ports[1] for _, port in candidates)
                assert {host for host, _ in candidates if ipaddress.ip_address(host).version == 4} == {PUBLIC}
            # Both connections went through the NAT: the camera's video in, the composite out.
            camera = [port for port in nat.inbound if nat.inbound[port] > 20 and nat.outbound.get(port, 0) > 0]
            composite = [port for port in nat.inbound if nat.outbound.get(port, 0) > 20]
            assert len(camera) == 1 and len(composite) == 1 and camera != composite
        finally:
            nat.close()
            await close_quietly(publisher)
            await close_quietly(viewer)

    try:
        asyncio.run(scenario())
    finally:
        server.stop()
