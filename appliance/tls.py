"""TLS for Préau's own listeners (admin web, captive portal): one policy, TLS ≥ 1.2."""

from __future__ import annotations

import ssl
from pathlib import Path


def server_context(cert: Path | None, key: Path | None) -> ssl.SSLContext | None:
    """Return a server context for ``cert``/``key``, or None when TLS is not configured."""
    if cert is None or key is None:
        return None
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert, key)
    return context
