"""Where the Replicate token may go: the rules for URLs Replicate hands back to us.

A `next` link of a list and a weights URL come from Replicate's answers; the token is sent only
to Replicate's own hosts over HTTPS, or to the configured base URL's origin (a simulator, a
proxy), never to any other host a link may name.
"""

from __future__ import annotations

import httpx

_TRUSTED_SUFFIXES = ("replicate.com", "replicate.delivery")


def auth_headers(url: str, base_url: str, token: str | None) -> dict[str, str]:
    """The Authorization header for downloading `url`: only for Replicate's hosts (HTTPS) or
    the base URL's host and scheme; {} otherwise, and for anything that is not a URL."""
    if not token:
        return {}
    try:
        target = httpx.URL(url)
    except (httpx.InvalidURL, TypeError):
        return {}
    host = (target.host or "").lower()
    base = httpx.URL(base_url)
    same_base = host == (base.host or "").lower() and target.scheme == base.scheme
    trusted = target.scheme == "https" and any(
        host == s or host.endswith("." + s) for s in _TRUSTED_SUFFIXES
    )
    return {"Authorization": f"Bearer {token}"} if same_base or trusted else {}


def same_origin(url: str, base_url: str) -> str:
    """A `next` link as something safe to request: absolute on the base URL's origin, else its
    path and query only (the request then goes to the base URL)."""
    target, base = httpx.URL(url), httpx.URL(base_url)
    if not target.is_absolute_url:
        return url
    if (target.scheme, target.host, target.port) == (base.scheme, base.host, base.port):
        return url
    return target.raw_path.decode("ascii")  # never send the token to another host
