"""A model on Replicate as the gateway reads it: whether a destination exists, and whose it is
(`doctor` checks that the token's account owns the destination)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bot.core.replicate import errors

if TYPE_CHECKING:
    from bot.core.replicate.gateway import ReplicateGateway


async def get_model(gateway: ReplicateGateway, destination: str) -> dict[str, Any] | None:
    """The model's JSON (`owner`, `name`, `visibility`, ...); None when it does not exist."""
    owner, name = errors.split_destination(destination)
    resp = await gateway._read("GET", f"/v1/models/{quote(owner)}/{quote(name)}")
    if resp.status_code == 404:
        return None
    if not resp.is_success:
        raise errors.error_for(resp, action=f"look up model {destination}")
    return errors.json_object(resp, f"look up model {destination}")
