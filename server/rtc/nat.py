"""A server behind a one-to-one NAT or a firewall: the public address its answers announce, and the UDP
port range its ICE sockets bind in.

Cloud machines, and containers on Docker's bridge network, have a private interface address that a
NAT maps, port for port, to a public one. aioice gathers host candidates on the interface addresses
only, so without help a browser on the internet is told an address it cannot reach (and a STUN
query would cost every answer a round trip to a third party). With a public address configured,
every host candidate of that address family is announced with the public address instead, its port
kept, as Janus's ``nat_1_1_mapping`` and mediasoup's announced address do. With a port range, the
host candidates' sockets bind within it, so a firewall opens (or ``docker run -p`` publishes) only
that range.

aioice binds its host sockets with ``loop.create_datagram_endpoint(local_addr=(address, 0))`` and
offers no port option, so the range is applied by handing aioice, on the server's event loop only, a
loop whose port-0 binds pick a free port of the range. Other loops (a test's clients, a load test in
the same process) keep the kernel's ephemeral ports.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import logging
import random
import re
import weakref
from typing import Any

import aioice.ice as ice_module

logger = logging.getLogger(__name__)

_PORT_RANGE = re.compile(r"^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$")
LOWEST_ICE_PORT = 1024


def check_public_addresses(addresses: tuple[str, ...]) -> None:
    """ValueError unless each address is a unicast IP literal, at most one IPv4 and one IPv6."""
    families: set[int] = set()
    for text in addresses:
        try:
            address = ipaddress.ip_address(text)
        except ValueError:
            raise ValueError(f"a public address is an IPv4 or IPv6 address (not a host name), got {text!r}") from None
        if address.is_unspecified or address.is_multicast:
            raise ValueError(f"the public address {text} cannot be announced: it is not a unicast address")
        if address.version in families:
            raise ValueError(f"at most one public IPv{address.version} address, got {', '.join(addresses)}")
        families.add(address.version)


def parse_port_range(text: str) -> tuple[int, int]:
    """``"MIN-MAX"`` as (MIN, MAX), both inclusive, within 1024-65535; ValueError otherwise."""
    match = _PORT_RANGE.match(text)
    if not match:
        raise ValueError(f"an ICE port range is MIN-MAX, e.g. 40000-40199, got {text!r}")
    low, high = int(match.group(1)), int(match.group(2))
    if not LOWEST_ICE_PORT <= low <= high <= 65535:
        raise ValueError(f"an ICE port range lies within {LOWEST_ICE_PORT}-65535 with MIN <= MAX, got {text!r}")
    return low, high


def announce_public_addresses(sdp: str, addresses: tuple[str, ...]) -> str:
    """The SDP with every host candidate (and connection line) of a public address's family naming that
    address instead of the interface's; ports, other families and other candidate types are kept."""
    if not addresses:
        return sdp
    public = {ipaddress.ip_address(a).version: a for a in addresses}
    lines = []
    for line in sdp.split("\r\n"):
        if line.startswith("a=candidate:"):
            fields = line.split(" ")
            # a=candidate:FOUNDATION COMPONENT TRANSPORT PRIORITY ADDRESS PORT typ TYPE ...
            if len(fields) >= 8 and fields[6] == "typ" and fields[7] == "host":
                replacement = public.get(_version(fields[4]))
                if replacement is not None:
                    fields[4] = replacement
                    line = " ".join(fields)
        elif line.startswith("c=IN IP"):
            network, family, address = line.split(" ", 2)
            replacement = public.get(4 if family == "IP4" else 6)
            if replacement is not None and _version(address) is not None:
                line = f"{network} {family} {replacement}"
        lines.append(line)
    return "\r\n".join(lines)


def _version(address: str) -> int | None:
    try:
        return ipaddress.ip_address(address).version
    except ValueError:  # an mDNS name, or garbage
        return None


def bind_ice_sockets_within(loop: asyncio.AbstractEventLoop, ports: tuple[int, int]) -> None:
    """From now on, the ICE host sockets aioice creates on ``loop`` bind to a free port of ``ports``
    (inclusive). When every port of the range is taken on an address, that address yields no
    candidate and a warning is logged."""
    shim = ice_module.asyncio
    if not isinstance(shim, _AsyncioWithPortRanges):
        shim = _AsyncioWithPortRanges()
        ice_module.asyncio = shim  # type: ignore[assignment]
    shim.port_ranges[loop] = ports


class _AsyncioWithPortRanges:
    """Stands for the ``asyncio`` module inside ``aioice.ice``: the same in every respect, except that
    ``get_running_loop()`` on a loop given a port range returns that loop wrapped in ``_PortRangeLoop``."""

    def __init__(self) -> None:
        self.port_ranges: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[int, int]] = (
            weakref.WeakKeyDictionary())

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)

    def get_running_loop(self) -> Any:
        loop = asyncio.get_running_loop()
        ports = self.port_ranges.get(loop)
        return loop if ports is None else _PortRangeLoop(loop, ports)


class _PortRangeLoop:
    """An event loop whose datagram endpoints asked for port 0 get a free port of the range instead."""

    def __init__(self, loop: asyncio.AbstractEventLoop, ports: tuple[int, int]) -> None:
        self._loop = loop
        self._ports = ports

    def __getattr__(self, name: str) -> Any:
        return getattr(self._loop, name)

    async def create_datagram_endpoint(self, protocol_factory: Any, local_addr: tuple[str, int] | None = None,
                                       **options: Any) -> Any:
        if local_addr is None or local_addr[1] != 0:
            return await self._loop.create_datagram_endpoint(protocol_factory, local_addr=local_addr, **options)
        low, high = self._ports
        count = high - low + 1
        start = random.randrange(count)  # spread over the range: a port just freed is not taken again at once
        for offset in range(count):
            port = low + (start + offset) % count
            try:
                return await self._loop.create_datagram_endpoint(protocol_factory, local_addr=(local_addr[0], port),
                                                                 **options)
            except OSError as error:
                if error.errno != errno.EADDRINUSE:
                    raise
        logger.warning("every UDP port of the ICE range %d-%d is taken on %s: a connection goes without "
                       "that address (widen --ice-ports)", low, high, local_addr[0])
        raise OSError(errno.EADDRINUSE, f"no free UDP port in {low}-{high} on {local_addr[0]}")
