"""One productions store per core: the app, WebDAV, held uploads and jobs share it (#12).

Three stores used to exist in one web process, each with its own per-person
locks and PERSONNEL keyring: a lock taken by an upload did not stop a WebDAV
write or a nightly erasure of the same person.
"""

from __future__ import annotations

from aiohttp.test_utils import make_mocked_request

from appliance.core import Core
from appliance.web.app import create_app
from storage.spaces_api import store_of
from storage.store import ProductionsStore


async def test_the_app_and_the_jobs_use_the_same_store(core: Core) -> None:
    app = create_app(core)
    store = core.shared(ProductionsStore)
    assert store_of(make_mocked_request("GET", "/fichiers", app=app)) is store
    assert store_of(make_mocked_request("GET", "/", app=create_app(core))) is store
    assert store._lock("eleve") is core.shared(ProductionsStore)._lock("eleve")
