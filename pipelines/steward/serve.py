"""``crm-golden review serve``: run the review app with uvicorn."""

from __future__ import annotations

import ipaddress
import logging
from pathlib import Path

from pipelines.review import ReviewError
from pipelines.steward.app import USERS_ENV, ConfigError, configured_users, create_app, masked_default

LOOPBACK_NAMES = frozenset({"localhost", "ip6-localhost"})


def is_loopback(host: str) -> bool:
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def serve(warehouse: Path, *, host: str = "127.0.0.1", port: int = 8780, masked: bool | None = None) -> int:
    """Serve until stopped; a non-loopback bind address without configured reviewers is refused."""
    import uvicorn  # lazy: the web server loads only when serving

    try:
        users = configured_users()
    except ConfigError as exc:
        raise ReviewError(str(exc)) from None
    if not is_loopback(host) and not users:
        raise ReviewError(f"refusing to serve on {host} without credentials: set {USERS_ENV}=user:password[,...] "
                          "(or [review] users in .dlt/secrets.toml), or bind 127.0.0.1")
    masked = masked_default() if masked is None else masked
    app = create_app(warehouse, masked=masked, users=users)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    print(f"review app for {warehouse} on http://{host}:{port}/queue"
          + (" (masked)" if masked else "") + (f" ({len(users)} reviewer(s), basic auth)" if users else "")
          + "; Ctrl-C stops", flush=True)
    uvicorn.run(app, host=host, port=port, log_level="info", server_header=False)
    return 0
