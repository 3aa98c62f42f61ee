"""ICE consent freshness (RFC 7675) that only applies to peers that take part in it.

aioice checks consent every ~5 s on each connection and closes it after 6 unanswered checks. FFmpeg's
WHIP muxer never answers consent checks, so it would be dropped about 30 s after connecting. For such
publishers the connection is kept and a vanished publisher is found by its media stopping instead
(see ``media_sessions``); a peer that has answered at least one check is held to the rule as usual.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import random

import aioice.ice as ice_module
from aioice import stun
from aiortc import RTCPeerConnection

logger = logging.getLogger(__name__)


def consent_only_if_answered(pc: RTCPeerConnection) -> None:
    """Install the tolerant consent check on every ICE connection of ``pc`` (after the remote offer
    is set, before the connection starts)."""
    for transceiver in pc.getTransceivers():
        connection = transceiver.receiver.transport.transport._connection
        connection.query_consent = functools.partial(_query_consent_if_answered, connection)


async def _query_consent_if_answered(connection: ice_module.Connection) -> None:
    """aioice's ``Connection.query_consent``, closing only once the peer has shown it answers."""
    assert connection.remote_password is not None
    failures, answered = 0, False
    while True:
        await asyncio.sleep(ice_module.CONSENT_INTERVAL * (0.8 + 0.4 * random.random()))
        for pair in connection._nominated.values():
            request = connection.build_request(pair, nominate=False)
            try:
                await pair.protocol.request(request, pair.remote_addr,
                                            integrity_key=connection.remote_password.encode("utf8"),
                                            retransmissions=0)
                failures, answered = 0, True
            except stun.TransactionError:
                failures += 1
        if answered and failures >= ice_module.CONSENT_FAILURES:
            logger.info("consent to send expired (the peer stopped answering)")
            connection._query_consent_task = None
            await connection.close()
            return
