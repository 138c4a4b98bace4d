"""The first-run page, its gate, and the local CA's root for download (see the package docstring).

The gate is a middleware: while a first run is pending it answers the
administration LAN with this page only (the API says why in its error
envelope), and everyone else with a refusal. Once the ``first_run`` row says
done, this process never asks the state DB again.
"""

from __future__ import annotations

import base64
import datetime as dt
import logging
import socket
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

from aiohttp import web
from aiohttp.typedefs import Handler

from appliance.atomic import write_atomic
from appliance.core import RESTART_TOPIC
from appliance.features import FirstRunAnswers
from appliance.first_run import state
from appliance.first_run.certificates import (
    TlsFiles,
    check_uploaded,
    fingerprint,
    install_uploaded,
    make_local_ca,
)
from appliance.first_run.form import (
    SCHOOL_KINDS,
    KernelAnswers,
    read_kernel_answers,
)
from appliance.first_run.network import (
    Interface,
    admin_lan_source,
    local_address_on,
    read_interfaces,
)
from appliance.i18n import N_
from appliance.identity.ldap_directory import LdapDirectory
from appliance.identity.model import DirectoryError, DirectoryUnreachable, Person
from appliance.problems import Problem
from appliance.site_settings import write_settings
from appliance.web.auth import login_csrf_token, set_login_csrf, source_of
from appliance.web.errors import error
from appliance.web.keys import CORE_KEY
from appliance.web.rendering import render, request_gettext

if TYPE_CHECKING:
    from pathlib import Path

    from appliance.core import Core

_LOGGER = logging.getLogger(__name__)

FIRST_RUN_PATH: Final = "/premiere-mise-en-service"
ROOT_PATH: Final = "/ac-racine.crt"
# Reachable whatever the first run's state: liveness, the page's own assets.
ALWAYS: Final = ("/healthz", "/static/")
INTERFACES_SECONDS: Final = 30.0
# Fields never sent back into the form.
SECRET_FIELDS: Final = frozenset(
    {"code", "password", "password_again", "ldap_password", "ldap_bind_password", "cert_key"}
)
NOT_ADMIN_LAN: Final = N_(
    "Ce boîtier attend sa première mise en service, qui se fait depuis le réseau "
    "d'administration de l'établissement."
)
PENDING: Final = N_("Le boîtier attend sa première mise en service (%(path)s).")

routes = web.RouteTableDef()


@dataclass(slots=True)
class FirstRunGate:
    """Whether this process still waits for the first run, and the box's interfaces.

    Once done, the state DB is never asked again. The interfaces are read
    again at most every :data:`INTERFACES_SECONDS` (an admin address given by
    DHCP may change).
    """

    done: bool = False
    interfaces: list[Interface] = field(default_factory=list)
    read_at: float = -INTERFACES_SECONDS

    async def pending(self, core: Core) -> bool:
        """Say whether the first run is still to be done."""
        if self.done:
            return False
        if not await state.pending(core.db):
            self.done = True
        return not self.done

    async def current_interfaces(self, core: Core) -> list[Interface]:
        """Return the box's interfaces, read again when the last reading is old."""
        now = time.monotonic()
        if now - self.read_at >= INTERFACES_SECONDS:
            self.interfaces = await core.executor.run(read_interfaces)
            self.read_at = now
        return self.interfaces


FIRST_RUN_KEY: Final = web.AppKey("first_run", FirstRunGate)
NOT_ADMIN_ADDRESS: Final = N_(
    "L'interface d'administration ne répond que sur le réseau d'administration."
)


@web.middleware
async def first_run_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """While the first run is pending, answer the admin LAN with its page only."""
    if request.path.startswith(ALWAYS) or request.path == ROOT_PATH:
        return await handler(request)
    core = request.app[CORE_KEY]
    gate = request.app[FIRST_RUN_KEY]
    admin = core.config.site.admin_interface
    if not await gate.pending(core):
        if admin and not _on_admin_address(request, await gate.current_interfaces(core), admin):
            if request.path.startswith("/api/"):
                return error(403, "not_admin_network", NOT_ADMIN_ADDRESS)
            return web.Response(status=403, text=request_gettext(request)(NOT_ADMIN_ADDRESS))
        return await handler(request)
    interfaces = await gate.current_interfaces(core)
    if not admin_lan_source(request.remote, interfaces, admin):
        if request.path.startswith("/api/"):
            return error(403, "first_run_elsewhere", NOT_ADMIN_LAN)
        return web.Response(status=403, text=request_gettext(request)(NOT_ADMIN_LAN))
    if request.path == FIRST_RUN_PATH:
        return await handler(request)
    if request.path.startswith("/api/"):
        return error(503, "first_run_pending", PENDING, path=FIRST_RUN_PATH)
    raise web.HTTPSeeOther(FIRST_RUN_PATH)


def _on_admin_address(request: web.Request, interfaces: list[Interface], admin: str) -> bool:
    """Say whether the request reached one of the admin interface's addresses (or loopback).

    The web UI listens on every address so that an admin address given by
    DHCP can change; what it answers is decided here, by the address the
    request was sent to (the trust boundary "pupils' networks ↔ admin").
    """
    sockname = request.transport.get_extra_info("sockname") if request.transport else None
    if not sockname:
        return True  # a UNIX socket: only the box itself
    return local_address_on(str(sockname[0]), interfaces, admin)


def _tls(core: Core) -> TlsFiles:
    return TlsFiles(core.config.site.data_dir / "tls")


def _form_page(
    request: web.Request,
    interfaces: list[Interface],
    form: dict[str, str],
    errors: dict[str, Problem],
    status: int = 200,
) -> web.Response:
    core = request.app[CORE_KEY]
    _ = request_gettext(request)
    token = login_csrf_token(request)
    context: dict[str, Any] = {
        "login_csrf": token,
        "form": {k: v for k, v in form.items() if k not in SECRET_FIELDS},
        "errors": {name: problem.said(_) for name, problem in errors.items()},
        "interfaces": interfaces,
        "kinds": SCHOOL_KINDS,
        "parts": [f.first_run.template for f in core.features if f.first_run is not None],
    }
    response = render(request, "first_run.html", context, status=status)
    set_login_csrf(request, response, token)
    return response


def _defaults(core: Core) -> dict[str, str]:
    school = core.config.site.schools[0]
    known = school.uai != "0000000X"
    return {
        "school_uai": school.uai if known else "",
        "school_name": school.name if known else "",
        "school_kind": school.kind,
        "accounts": "local",
        "certificate": "local",
        "admin_interface": core.config.site.admin_interface,
    }


@routes.get(FIRST_RUN_PATH)
async def first_run_page(request: web.Request) -> web.StreamResponse:
    """Show the first-run form (only while it is pending: the gate saw to where from)."""
    core = request.app[CORE_KEY]
    if not await request.app[FIRST_RUN_KEY].pending(core):
        raise web.HTTPSeeOther("/login")
    interfaces = await request.app[FIRST_RUN_KEY].current_interfaces(core)
    return _form_page(request, interfaces, _defaults(core), {})


@routes.post(FIRST_RUN_PATH)
async def first_run_submit(request: web.Request) -> web.StreamResponse:
    """Check the whole form, then set the box up and restart its services on it."""
    core = request.app[CORE_KEY]
    if not await request.app[FIRST_RUN_KEY].pending(core):
        raise web.HTTPSeeOther("/login")
    posted = await request.post()
    form = {key: value for key, value in posted.items() if isinstance(value, str)}
    interfaces = await core.executor.run(read_interfaces)
    names = tuple(interface.name for interface in interfaces)
    answers, errors = read_kernel_answers(form, names)
    if "code" not in errors and not await state.code_matches(core.db, form.get("code", "")):
        errors["code"] = Problem(
            N_(
                "ce n'est pas le code affiché à l'installation "
                "(preau first-run begin en donne un neuf)"
            )
        )
    now = dt.datetime.now(dt.UTC)
    if answers is not None and answers.certificate == "upload":
        problem = check_uploaded(answers.chain_pem, answers.key_pem, now)
        if problem is not None:
            errors["cert_chain"] = problem
    tls = _tls(core)
    shared = FirstRunAnswers(
        form, names, answers.admin_interface if answers else "", (tls.chain, tls.key)
    )
    settings: dict[str, Any] = {}
    for feature in core.features:
        if feature.first_run is not None:
            wanted, problems = feature.first_run.read(shared)
            settings = {**settings, **wanted}
            errors.update(problems)
    if answers is None or errors:
        return _form_page(request, interfaces, form, errors, status=422)
    problems = await _check_directory(core, answers)
    if not problems:
        for feature in core.features:
            if feature.first_run is not None and feature.first_run.apply is not None:
                problems.update(
                    await feature.first_run.apply(core, shared, "first-run", source_of(request))
                )
    if problems:
        return _form_page(request, interfaces, form, problems, status=422)
    await _set_up(core, request, answers, interfaces, settings, now)
    return await _done_page(request, answers)


async def _check_directory(core: Core, answers: KernelAnswers) -> dict[str, Problem]:
    """Bind to the school's directory as its service account (nothing to check without one)."""
    binding = answers.directory
    if binding is None:
        return {}
    tls = _tls(core)
    ldap = binding.ldap
    if binding.ca_pem:
        await core.executor.run(_write_file, tls.directory_ca, binding.ca_pem, 0o644)
        ldap = ldap.model_copy(update={"ca_file": tls.directory_ca})
    directory = LdapDirectory(ldap, binding.bind_password, answers.school.uai)
    try:
        await core.executor.run(directory.ping)
    except DirectoryUnreachable as err:
        return {
            "ldap_uri": Problem(N_("l'annuaire ne répond pas : %(error)s"), {"error": str(err)})
        }
    except DirectoryError as err:
        return {
            "ldap_bind_password": Problem(
                N_("l'annuaire refuse ce compte de service : %(error)s"), {"error": str(err)}
            )
        }
    return {}


def _addresses(interfaces: list[Interface], admin: str) -> list[str]:
    found = []
    for interface in interfaces:
        if interface.name == admin:
            found += [str(net.ip) for net in interface.networks if not net.ip.is_link_local]
    return found


async def _set_up(
    core: Core,
    request: web.Request,
    answers: KernelAnswers,
    interfaces: list[Interface],
    features_settings: dict[str, Any],
    now: dt.datetime,
) -> None:
    """Write the certificate, the settings and the referent, then restart every process."""
    tls = _tls(core)
    school = answers.school
    if answers.certificate == "upload":
        await core.executor.run(install_uploaded, tls, answers.chain_pem, answers.key_pem)
    else:
        host = socket.gethostname()
        names = [host, f"{host}.local"]
        addresses = _addresses(interfaces, answers.admin_interface)
        await core.executor.run(make_local_ca, tls, school.name, names, addresses, now)
    settings: dict[str, Any] = {
        **features_settings,
        "site": {"schools": [school.model_dump()], "admin_interface": answers.admin_interface},
        "web": {"tls_cert": str(tls.chain), "tls_key": str(tls.key)},
    }
    binding = answers.directory
    if binding is not None:
        secret = core.config.site.data_dir / "ldap-service.secret"
        await core.executor.run(_write_file, secret, binding.bind_password, 0o600)
        ldap = binding.ldap.model_dump(mode="json", by_alias=True, include={
            "enabled", "uri", "security", "bind_dn", "base_dn"})  # fmt: skip
        ldap["bind_password_file"] = str(secret)
        if binding.ca_pem:
            ldap["ca_file"] = str(tls.directory_ca)
        settings["identity"] = {"ldap": ldap}
    await core.executor.run(write_settings, core.config.site.data_dir, settings)
    referent = answers.referent
    person = Person(
        id=referent.login,
        source="local",
        display_name=referent.display_name,
        role="referent",
        school_uai=school.uai,
    )
    await core.directory.add_local_person(person, referent.password)
    async with core.db.write() as tx:
        await state.finish(tx, person.id)
        await core.audit.record_in(
            tx,
            actor=person.id,
            source=source_of(request),
            action="first_run.done",
            target=school.uai,
            outcome="success",
            detail=answers.certificate,
        )
        await tx.notify(RESTART_TOPIC)
    request.app[FIRST_RUN_KEY].done = True
    _LOGGER.info("First run done for %s by %s: services restart on it", school.uai, person.id)


def _write_file(path: Path, text: str, mode: int) -> None:
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    write_atomic(path, text.strip() + "\n", mode=mode)


async def _done_page(request: web.Request, answers: KernelAnswers) -> web.StreamResponse:
    core = request.app[CORE_KEY]
    tls = _tls(core)
    root_pem = ""
    root = None
    if answers.certificate == "local":
        pem = await core.executor.run(tls.root.read_bytes)
        root, root_pem = fingerprint(pem), pem.decode("ascii")
    context = {
        "next_url": f"https://{request.host}/login",
        "root_fingerprint": root,
        # In the page itself: once this answer is sent, the web UI restarts on
        # HTTPS, which the browser does not trust yet.
        "root_pem": root_pem,
        "root_data": base64.b64encode(root_pem.encode()).decode(),
        "root_path": ROOT_PATH,
        "login": answers.referent.login,
    }
    return render(request, "first_run_done.html", context)


@routes.get(ROOT_PATH)
async def root_certificate(request: web.Request) -> web.StreamResponse:
    """Serve the local CA's root, for the referent to install and push by MDM (public)."""
    core = request.app[CORE_KEY]
    path = _tls(core).root
    try:
        body = await core.executor.run(path.read_bytes)
    except FileNotFoundError as err:
        raise web.HTTPNotFound(
            text=request_gettext(request)(N_("Ce boîtier n'a pas d'autorité locale."))
        ) from err
    return web.Response(
        body=body,
        content_type="application/x-x509-ca-cert",
        headers={"Content-Disposition": 'attachment; filename="preau-ac-racine.crt"'},
    )
