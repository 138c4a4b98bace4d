"""The help pages' tests run against the real admin app (the kernel's fixture)."""

from tests.appliance.web.conftest import client

__all__ = ["client"]
