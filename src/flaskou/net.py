"""Facts about the client making the current request."""

from __future__ import annotations

from flask import request

MAX_USER_AGENT = 200


def client_address() -> str:
    """The client's address (ProxyFix has already applied trusted proxies)."""
    return request.remote_addr or "unknown"


def user_agent() -> str:
    agent = request.headers.get("User-Agent", "").strip()
    cleaned = "".join(ch for ch in agent if ch.isprintable())
    return cleaned[:MAX_USER_AGENT] or "unknown client"
