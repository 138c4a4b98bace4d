"""The teacher's phone page: the class's internet in one tap (issue #13 scope 4; CARMO #9.2,
#9.6, #9.21).

One page, made for a 360 px phone and usable without JavaScript: the class
(one of those the teacher teaches), what is in force on it and until when,
and one button each for "Couper Internet", each of the referent's named
allow-lists ("Évaluation", "Recherche" …, ``filter.allowlists``), "Bloquer
ces sites", "Rétablir" and "Prolonger d'un créneau". A control ends with the créneau
(:mod:`appliance.scheduler.lessons`), in the network (DNS answers, and the
portal's gate for "Couper Internet"), whatever happens to the teacher's
phone. Every action goes through the same checks as the API: a teacher
acts on their own classes, ends a teacher's control, never the referent's.
A tap targets the whole class or one of its virtual groups ("Groupe A",
:mod:`appliance.identity.subgroups`, scope 6); "Rétablir" and "Prolonger"
act on the class and its groups together.
"""

from __future__ import annotations

import datetime as dt
import time
import urllib.parse
from typing import Any

from aiohttp import web

from appliance.i18n import N_
from appliance.identity import subgroups
from appliance.network_clients import class_presence
from appliance.scheduler.lessons import control_end, next_control_end
from appliance.scheduler.timetable_state import lesson_now
from appliance.web.auth import actor_of, require_role, source_of
from appliance.web.keys import CORE_KEY, SESSION_KEY
from appliance.web.rendering import page, say
from captive_portal.carts import carts_of_class
from filter import state as filtering
from filter.config import FilterConfig

routes = web.RouteTableDef()
PATH = "/internet"


async def _classes(request: web.Request) -> list[str]:
    """Return the classes the page offers: a teacher's own, every class for the referent."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - require_role guarantees it
    return await request.app[CORE_KEY].directory.classes_in_charge(session.person_id, session.role)


def _on_class(row: filtering.OverrideRow, class_name: str, group_ids: Any) -> bool:
    """Return whether a control is on the class or one of its groups (ids in ``group_ids``)."""
    if row.target_kind == "class":
        return row.target == class_name
    return row.target_kind == "subgroup" and row.target in group_ids


def _seen(when: float | None, zone: Any, now: float) -> str:
    """Return when a device was last seen: a time today, a date before."""
    if when is None:
        return ""
    moment = dt.datetime.fromtimestamp(when, zone)
    same_day = moment.date() == dt.datetime.fromtimestamp(now, zone).date()
    return moment.strftime("%H:%M") if same_day else moment.strftime("%d/%m")


def _back(class_name: str, message: str = "") -> str:
    query = {"classe": class_name, **({"message": message} if message else {})}
    return f"{PATH}?{urllib.parse.urlencode(query)}"


@routes.get(PATH)
@require_role("teacher", "referent")
@page("class_internet.html")
async def class_internet_page(request: web.Request) -> dict[str, Any]:
    """Show the class's internet: what is in force, until when, and the buttons."""
    core = request.app[CORE_KEY]
    session = request[SESSION_KEY]
    known = await _classes(request)
    asked = request.query.get("classe", "")
    teacher = session.person_id if session is not None else ""
    giving = await lesson_now(core, teacher, dt.datetime.now(dt.UTC)) if teacher else None
    if asked in known:
        class_name = asked
    elif giving is not None and giving.class_name in known:
        class_name = giving.class_name  # the lesson under way, from the timetable
    else:
        class_name = known[0] if known else ""
    now = time.time()
    zone = core.config.site.zone
    groups = await subgroups.of_class(core, class_name) if class_name else []
    group_names = {str(group.id): group.name for group in groups}
    controls = []
    for row in await filtering.active_overrides(core):
        if _on_class(row, class_name, group_names):
            who = await core.directory.person(row.created_by)
            controls.append(
                {
                    "id": row.id,
                    "action": row.action,
                    "by": who.display_name if who is not None else row.created_by,
                    "mine": session is not None and row.created_by == session.person_id,
                    "until": dt.datetime.fromtimestamp(row.expires_at, zone).strftime("%H:%M"),
                    "minutes_left": max(0, int(row.expires_at - now) // 60),
                    "seconds_left": max(0, int(row.expires_at - now)),
                    "ends_soon": row.expires_at - now <= 5 * 60,
                    "allowlist": row.reason,
                    "group": group_names.get(row.target, "")
                    if row.target_kind == "subgroup"
                    else "",
                }
            )
    end, lesson = await control_end(
        core, dt.datetime.now(dt.UTC), teacher=teacher, class_name=class_name
    )
    present = await class_presence(core, class_name) if class_name else {}
    pupils = [
        {
            "name": name,
            "devices": int(present[person]["devices"]) if person in present else 0,
            "since": dt.datetime.fromtimestamp(present[person]["since"], zone).strftime("%H:%M")
            if person in present
            else "",
        }
        for person, name in (await core.directory.roster(class_name)).items()
    ]
    return {
        "carts": [
            {
                "name": cart.name,
                "online": cart.online,
                "devices": [
                    {
                        "name": device.name,
                        "online": device.online,
                        "seen": _seen(device.last_seen, zone, now),
                        "battery": device.battery,
                    }
                    for device in cart.devices
                ],
            }
            for cart in (await carts_of_class(core, class_name, now) if class_name else [])
        ],
        "pupils": pupils,
        "connected": sum(1 for pupil in pupils if pupil["devices"]),
        "classes": known,
        "class_name": class_name,
        "groups": groups,
        "target": request.query.get("pour", ""),
        "controls": controls,
        "allowlists": sorted(core.config.section(FilterConfig).allowlists),
        "ends_at": end.astimezone(zone).strftime("%H:%M"),
        "creneau": lesson.name if lesson else "",
        "message": request.query.get("message", ""),
    }


@routes.post(PATH)
@require_role("teacher", "referent")
async def class_internet_action(request: web.Request) -> web.StreamResponse:
    """Apply one tap: cut, an allow-list, restore or extend; back to the page."""
    session = request[SESSION_KEY]
    assert session is not None  # noqa: S101 - require_role guarantees it
    core = request.app[CORE_KEY]
    form = await request.post()
    class_name = str(form.get("classe", ""))
    what = str(form.get("action", ""))
    if class_name not in await _classes(request):
        raise web.HTTPForbidden(
            text=say(request, N_("Vous n'enseignez pas dans la classe « %(name)s »."),
                     name=class_name)
        )  # fmt: skip
    taught = [class_name]
    group_ids = {str(group.id) for group in await subgroups.of_class(core, class_name)}
    target = str(form.get("pour", "")) or "classe"
    if target != "classe" and target not in group_ids:
        raise web.HTTPBadRequest(text=say(request, N_("Ce groupe n'existe pas dans cette classe.")))
    if what in ("restore", "extend"):
        for row in await filtering.active_overrides(core):
            if not _on_class(row, class_name, group_ids):
                continue
            if not await filtering.may_end(core, row.id, role=session.role, classes=taught):
                continue  # the referent's control stays
            if what == "restore":
                await filtering.end_override(
                    core, row.id, actor=actor_of(request), source=source_of(request)
                )
            else:
                end, _lesson = await next_control_end(
                    core, dt.datetime.fromtimestamp(row.expires_at, dt.UTC)
                )
                await filtering.extend_override(
                    core, row.id, end.timestamp(),
                    actor=actor_of(request), source=source_of(request),
                )  # fmt: skip
        raise web.HTTPSeeOther(_back(class_name, "restored" if what == "restore" else "extended"))
    allowlists = core.config.section(FilterConfig).allowlists
    domains: list[str] = []
    if what == "cut":
        action, allowlist = "block_all", ""
    elif what == "block_sites":
        action, allowlist = "block_domains", ""
        domains = str(form.get("sites", "")).replace(",", " ").split()[:50]
    elif what.startswith("allowlist:") and what.removeprefix("allowlist:") in allowlists:
        action, allowlist = "allowlist_only", what.removeprefix("allowlist:")
    else:
        raise web.HTTPBadRequest(text=say(request, N_("Action inconnue.")))
    # One controller per class: a tap takes over another teacher's controls
    # on it (ended, and said in the audit log); the referent's stay.
    for row in await filtering.active_overrides(core):
        if (
            _on_class(row, class_name, group_ids)
            and row.created_by != session.person_id
            and await filtering.may_end(core, row.id, role=session.role, classes=taught)
        ):
            await filtering.end_override(
                core, row.id, actor=actor_of(request), source=source_of(request)
            )
            await core.audit.record(
                actor=actor_of(request),
                source=source_of(request),
                action="filter.override.takeover",
                target=class_name,
                outcome="success",
                detail=f"#{row.id} {row.created_by}",
            )
    now = dt.datetime.now(dt.UTC)
    end, _lesson = await control_end(core, now, teacher=session.person_id, class_name=class_name)
    try:
        await filtering.add_override(
            core,
            target_kind="class" if target == "classe" else "subgroup",
            target=class_name if target == "classe" else target,
            action=action,  # type: ignore[arg-type]
            seconds=max(60, round((end - now).total_seconds())),
            domains=domains,
            allowlist=allowlist,
            reason=allowlist,
            actor=actor_of(request),
            source=source_of(request),
            actor_role=session.role,
        )
    except filtering.FilterStateError as err:
        raise web.HTTPBadRequest(text=say(request, err)) from err
    raise web.HTTPSeeOther(_back(class_name, "applied"))
