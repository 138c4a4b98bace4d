"""The health gate: the probes a new slot must pass within five minutes.

Every feature declares its probes (:attr:`appliance.features.Feature.gate_probes`:
the filter asks its DNS, the portal lists its sets and its DHCP socket); the
kernel's own is the web UI's ``/healthz`` answering 200. :func:`run_gate`
asks them all, again every few seconds, until every one passed once or the
time is up, and returns what still failed. The clock and the pause are
passed in, so the tests drive time.

A slot whose service crashes at every start would otherwise hold the school
without it for the whole five minutes. So between rounds the gate also asks
systemd how often it restarted each of the box's units
(:func:`unit_restarts`); a unit restarted :data:`RESTARTS_TO_GIVE_UP` times
since boot ends the gate at once (:func:`crash_looping`), and the old slot
serves minutes sooner.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Final

from appliance.features import GateFailure, GateProbe, installed_features
from appliance.i18n import N_

if TYPE_CHECKING:
    from appliance.config import PreauConfig

GATE_SECONDS: Final = 300.0
PAUSE_SECONDS: Final = 5.0
ANSWER_SECONDS: Final = 5.0
RESTARTS_TO_GIVE_UP: Final = 3
CRASH_LOOP: Final = N_("Les services tiennent")
CRASH_LOOP_FAILURE: Final = N_("un service redémarre sans cesse")


def web_probe(config: PreauConfig) -> GateProbe:
    """Return the probe of the web UI: ``/healthz`` on its port answers 200."""
    https = config.web.tls_cert is not None
    port = config.web.port

    async def check() -> None:
        context: ssl.SSLContext | None = None
        if https:
            # Loopback to this box's own service: its certificate is the box's CA's.
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", port, ssl=context), ANSWER_SECONDS
            )
        except (OSError, TimeoutError) as err:
            raise GateFailure(N_("l'interface web ne répond pas")) from err
        try:
            writer.write(b"GET /healthz HTTP/1.0\r\nHost: localhost\r\n\r\n")
            await writer.drain()
            line = await asyncio.wait_for(reader.readline(), ANSWER_SECONDS)
        except (OSError, TimeoutError) as err:
            raise GateFailure(N_("l'interface web ne répond pas")) from err
        finally:
            writer.close()
        parts = line.split()
        if len(parts) < 2 or parts[1] != b"200":
            raise GateFailure(N_("l'interface web ne répond pas « 200 »"))

    return GateProbe(N_("L'interface web répond"), check)


def probes_for(config: PreauConfig) -> list[GateProbe]:
    """Return the kernel's probe and every feature's, for this box's config."""
    probes = [web_probe(config)]
    for feature in installed_features():
        if feature.gate_probes is not None:
            probes.extend(feature.gate_probes(config))
    return probes


def parse_restarts(text: str) -> dict[str, int]:
    """Read ``systemctl show -p Id -p NRestarts`` output: each unit's restart count."""
    restarts: dict[str, int] = {}
    for block in text.split("\n\n"):
        fields = dict(line.split("=", 1) for line in block.splitlines() if "=" in line)
        if fields.get("Id") and fields.get("NRestarts", "").isdigit():
            restarts[fields["Id"]] = int(fields["NRestarts"])
    return restarts


def crash_looping(restarts: Mapping[str, int], limit: int = RESTARTS_TO_GIVE_UP) -> str | None:
    """Return the first unit restarted LIMIT times or more, or None."""
    return next((unit for unit, count in sorted(restarts.items()) if count >= limit), None)


async def unit_restarts(units: Sequence[str]) -> dict[str, int]:
    """Ask systemd how many times it restarted each of UNITS since boot."""
    process = await asyncio.create_subprocess_exec(
        "systemctl", "show", "--property=Id,NRestarts", "--", *units,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    out, _ = await process.communicate()
    return parse_restarts(out.decode(errors="replace"))


async def run_gate(
    probes: Sequence[GateProbe],
    clock: Callable[[], float],
    pause: Callable[[float], Awaitable[None]],
    seconds: float = GATE_SECONDS,
    restarts: Callable[[], Awaitable[Mapping[str, int]]] | None = None,
) -> dict[str, str]:
    """Ask every probe until each passed once or SECONDS ran out; return the failures.

    The result maps each probe that never passed to its last failure (both
    French message ids); empty means the slot is healthy. RESTARTS, when
    given, counts each unit's restarts: one restarted too often while a
    probe still waits ends the gate at once, as a failure of its own.
    """
    deadline = clock() + seconds
    waiting = {probe.name: probe for probe in probes}
    failures: dict[str, str] = {}
    while True:
        for name, probe in list(waiting.items()):
            try:
                await probe.check()
            except GateFailure as err:
                failures[name] = str(err.args[0]) if err.args else name
            else:
                del waiting[name]
                failures.pop(name, None)
        if not waiting or clock() >= deadline:
            return failures
        if restarts is not None and crash_looping(await restarts()) is not None:
            failures[CRASH_LOOP] = CRASH_LOOP_FAILURE
            return failures
        await pause(min(PAUSE_SECONDS, max(0.0, deadline - clock())))
