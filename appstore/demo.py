"""The app store's share of the demo school: a few invented apps, assigned (#16 scope 3).

Packages are made here, small and clearly marked « démo »: an iOS app (a
real IPA's shape, which the store inspects), a PDF guide for everyone and a
Linux package for the teachers, each stored through the same upload path
as a referent's, then assigned.
"""

from __future__ import annotations

import io
import plistlib
import zipfile
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from appstore import packages as appstore

if TYPE_CHECKING:
    from appliance.core import Core
    from appliance.demo_history import HistoryPlan


def _ipa(bundle: str, version: str, name: str) -> bytes:
    info = {"CFBundleIdentifier": bundle, "CFBundleShortVersionString": version,
            "CFBundleDisplayName": name}  # fmt: skip
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("Payload/Demo.app/Info.plist", plistlib.dumps(info))
        archive.writestr("Payload/Demo.app/Demo", b"demo " * 400)
    return out.getvalue()


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def store_demo(core: Core, plan: HistoryPlan) -> int:
    """Store the demo's apps and assign them; return how many were stored."""
    if await appstore.packages(core):
        return 0
    has_6a = await core.directory.has_class("6A")
    made = [
        (
            appstore.Declared("ios", "Cahier de textes (démo)", "fr.demo.cahier", "2.1",
                              "cahier-demo.ipa", 21, "Application inventée pour la démo."),
            _ipa("fr.demo.cahier", "2.1", "Cahier"),
            [("class", "6A"), ("role", "teacher")] if has_6a else [("role", "teacher")],
        ),
        (
            appstore.Declared("other", "Guide du collégien (démo)", "fr.demo.guide", "2026",
                              "guide-demo.pdf", 1, "Document inventé pour la démo."),
            b"%PDF-1.4\n% Guide de demonstration\n%%EOF\n",
            [("school", "")],
        ),
        (
            appstore.Declared("linux", "Géométrie (démo)", "fr.demo.geometrie", "1.0",
                              "geometrie-demo.deb", 10, "Paquet inventé pour la démo."),
            b"!<arch>\ndebian-binary   0           0     0     100644  4         `\n2.0\n",
            [("role", "teacher")],
        ),
    ]  # fmt: skip
    for declared, body, assignments in made:
        package = await appstore.upload(core, declared, _once(body), actor="demo", source="demo")
        await appstore.set_assignments(
            core, int(package["id"]), assignments, actor="demo", source="demo"
        )
    return len(made)
