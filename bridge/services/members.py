"""Writing a member's metadata safely: Fabman's optimistic locking, handled once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from bridge.adapters.fabman import FabmanClient, FabmanConflict, FabmanUnavailable, Member

log = logging.getLogger(__name__)

CONFLICT_RETRIES = 5

MetadataChange = Callable[[dict[str, Any] | None], dict[str, Any] | None]
"""Given the member's current metadata, the new metadata, or None when nothing needs writing."""


def update_metadata(
    fabman: FabmanClient,
    member: Member,
    change: MetadataChange,
) -> Member:
    """PUT the change with the member's `lockVersion`; on 409 re-read, re-apply and retry.

    The change is re-applied to fresh metadata each time, so whatever another
    writer changed meanwhile (staff in Fabman, another worker) is kept.
    """
    for _ in range(CONFLICT_RETRIES):
        updated = change(member.metadata)
        if updated is None:
            return member
        try:
            return fabman.update_member(member.id, {"metadata": updated}, member.lock_version)
        except FabmanConflict:
            log.info("member %s changed meanwhile (409); re-reading", member.id)
            member = fabman.get_member(member.id, trainings=False, privileges=False)
    raise FabmanUnavailable(f"member {member.id} kept changing; try again later", status=409)
