"""The storage's tests use the web tests' app client (the real app on a core)."""

from __future__ import annotations

from tests.appliance.web.conftest import client

__all__ = ["client"]
