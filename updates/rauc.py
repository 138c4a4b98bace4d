"""The adapter to RAUC: read the slots, check a bundle, install it, mark a slot.

RAUC does the work that must not be hand-written: the bundle's CMS signature
against the box's keyring, its compatible string, writing the slot, and
GRUB's environment (ORDER, X_OK, X_TRY). This module runs its command line
(as root, over D-Bus to ``rauc.service``) and reads its JSON;
:func:`parse_status` is pure.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from appliance.i18n import N_
from appliance.problems import UserError

RAUC: Final = "rauc"
INSTALL_SECONDS: Final = 1800.0


class RaucError(UserError):
    """RAUC refused or failed (its own words follow the French sentence)."""


@dataclass(frozen=True, slots=True)
class Slot:
    """One root slot as RAUC sees it."""

    name: str  # "rootfs.0"
    bootname: str  # "A"
    device: str
    booted: bool
    boot_good: bool | None
    version: str  # the bundle's version written there, "" for the factory's
    installed_at: float | None = None  # when RAUC finished writing it (None: never)


@dataclass(frozen=True, slots=True)
class Status:
    """The box's slots: which one runs, which one boots next."""

    booted: str  # bootname
    primary: str  # bootname
    slots: tuple[Slot, ...]

    def slot(self, bootname: str) -> Slot:
        """Return the slot called BOOTNAME."""
        return next(slot for slot in self.slots if slot.bootname == bootname)

    @property
    def other(self) -> Slot:
        """Return the slot that is not running."""
        return next(slot for slot in self.slots if slot.bootname != self.booted)


def parse_status(text: str) -> Status:
    """Read ``rauc status --detailed --output-format=json``."""
    data: dict[str, Any] = json.loads(text)
    slots = []
    for entry in data.get("slots", []):
        for name, slot in entry.items():
            if not slot.get("bootname"):
                continue
            good = slot.get("boot_status")
            slot_status = slot.get("slot_status") or {}
            installed = slot_status.get("bundle") or {}
            finished = (slot_status.get("installed") or {}).get("timestamp")
            slots.append(
                Slot(
                    name=name,
                    bootname=slot["bootname"],
                    device=slot.get("device", ""),
                    booted=slot.get("state") == "booted",
                    boot_good=None if good is None else good == "good",
                    version=installed.get("version") or "",
                    installed_at=_timestamp(finished),
                )
            )
    # "booted" is a bootname ("A"); "boot_primary" names the slot ("rootfs.1").
    primary = data.get("boot_primary") or ""
    primary = next((slot.bootname for slot in slots if slot.name == primary), primary)
    return Status(booted=data.get("booted") or "", primary=primary, slots=tuple(slots))


def _timestamp(text: str | None) -> float | None:
    """Read RAUC's UTC timestamps ("2026-12-02T21:25:46Z")."""
    if not text:
        return None
    return dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC).timestamp()


async def _run(*args: str, seconds: float = 60.0) -> tuple[int, str, str]:
    """Run ``rauc ARGS``; return its exit code, its output and its last complaint."""
    process = await asyncio.create_subprocess_exec(
        RAUC,
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), seconds)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    lines = [line.strip() for line in err.decode("utf-8", "replace").splitlines()]
    # RAUC's reason comes on its "LastError:" line; else its last complaint.
    reasons = [
        line.removeprefix("LastError:").strip() for line in lines if line.startswith("LastError:")
    ]
    complaints = [line for line in lines if line and "rauc-Message" not in line]
    said = (reasons or complaints or [""])[-1]
    return int(process.returncode or 0), out.decode("utf-8", "replace"), said


async def status() -> Status:
    """Return the slots as RAUC sees them now."""
    code, out, said = await _run("status", "--detailed", "--output-format=json")
    if code != 0:
        raise RaucError(N_("RAUC ne donne pas l'état des emplacements : %(said)s"), said=said)
    return parse_status(out)


@dataclass(frozen=True, slots=True)
class BundleInfo:
    """What a verified bundle says of itself."""

    compatible: str
    version: str
    image_bytes: int


def parse_info(text: str) -> BundleInfo:
    """Read ``rauc info --output-format=json``."""
    data: dict[str, Any] = json.loads(text)
    size = 0
    for image in data.get("images", []):
        for entry in image.values():
            size += int(entry.get("size", 0))
    return BundleInfo(data.get("compatible", ""), data.get("version", ""), size)


async def verify(bundle: Path, conf: Path | None = None) -> BundleInfo:
    """Check BUNDLE's signature and compatible string (by RAUC's CONF, else its own)."""
    chosen = [f"--conf={conf}"] if conf is not None else []
    code, out, said = await _run(
        *chosen, "info", "--output-format=json", str(bundle), seconds=300.0
    )
    if code != 0:
        raise RaucError(
            N_(
                "Mise à jour refusée : le paquet de mise à jour n'est pas signé par le projet "
                "ou ne convient pas à ce boîtier. Rien n'a été modifié. (%(said)s)"
            ),
            said=said,
        )
    return parse_info(out)


async def install(bundle: Path) -> None:
    """Write BUNDLE to the slot that is not running and make it boot next."""
    code, _, said = await _run("install", str(bundle), seconds=INSTALL_SECONDS)
    if code != 0:
        raise RaucError(
            N_(
                "La mise à jour a échoué avant le redémarrage ; le boîtier reste tel quel. "
                "(%(said)s)"
            ),
            said=said,
        )


async def mark(state: str) -> None:
    """Mark the booted slot "good" or "bad"."""
    code, _, said = await _run("status", f"mark-{state}")
    if code != 0:
        raise RaucError(N_("RAUC ne marque pas l'emplacement : %(said)s"), said=said)
