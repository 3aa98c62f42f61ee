"""A cluster node follows the backgrounds other nodes upload and delete.

Every ``PERIOD_SECONDS`` the node asks the shared store whether anything changed (one Redis GET of a
counter); if so its participants' pickers get the new list, and whoever used a background deleted
elsewhere falls back to the default, as after a delete on this node.
"""

from __future__ import annotations

import asyncio
import logging

from redis import RedisError

from ..storage.redis_stores import RedisBackgroundStore
from .conference import Conference

logger = logging.getLogger(__name__)

PERIOD_SECONDS = 2.0


async def follow_shared_backgrounds(store: RedisBackgroundStore, conference: Conference,
                                    period: float = PERIOD_SECONDS) -> None:
    """Run until cancelled: apply the cluster's background changes to this node's conference."""
    while True:
        await asyncio.sleep(period)
        try:
            changes = await asyncio.to_thread(store.follow_backgrounds)
        except RedisError as error:
            logger.warning("cannot follow the cluster's backgrounds: %s", error)
            continue
        if changes is None:
            continue
        for background_id in sorted(changes.removed):
            await conference.backgrounds_changed(deleted=background_id)
        if changes.added and not changes.removed:
            await conference.backgrounds_changed()
