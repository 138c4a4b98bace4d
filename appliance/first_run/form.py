"""The kernel's part of the first-run form, read and checked without I/O.

Each answer goes through the check of its kind (the config's own models for
the school and the directory, the password policy, the install code's
shape), and every problem is kept by field name so the page shows them all
at once, next to their fields, with what was typed (never a password).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from pydantic import ValidationError

from appliance.config import LdapConfig, School
from appliance.i18n import N_
from appliance.identity.passwords import PasswordPolicyError, check_policy
from appliance.problems import Problem
from appliance.validation_fr import problem_in

LOGIN: Final = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
MAX_FIELD: Final = 512
REFERENT_PASSWORD_LENGTH: Final = 12
SCHOOL_KINDS: Final = ("ecole", "college", "lycee")
REQUIRED: Final = N_("à remplir")


@dataclass(frozen=True, slots=True)
class LocalReferent:
    """The referent's local account."""

    login: str
    display_name: str
    password: str


@dataclass(frozen=True, slots=True)
class DirectoryBinding:
    """The school's directory (LDAP or Active Directory) the box reads its people from."""

    ldap: LdapConfig
    bind_password: str
    ca_pem: str


@dataclass(frozen=True, slots=True)
class KernelAnswers:
    """What the kernel's part of the form says, once checked."""

    code: str
    school: School
    referent: LocalReferent
    directory: DirectoryBinding | None
    admin_interface: str
    certificate: Literal["local", "upload"]
    chain_pem: str
    key_pem: str


def _field(form: Mapping[str, str], name: str) -> str:
    return form.get(name, "")[:MAX_FIELD].strip()


def _school(form: Mapping[str, str], errors: dict[str, Problem]) -> School | None:
    values = {
        "uai": _field(form, "school_uai").upper(),
        "name": _field(form, "school_name"),
        "kind": _field(form, "school_kind"),
    }
    try:
        return School.model_validate(values)
    except ValidationError as err:
        for problem in err.errors():
            errors[f"school_{problem['loc'][0]}"] = problem_in(problem)
    return None


def _password(form: Mapping[str, str], errors: dict[str, Problem]) -> str:
    password = form.get("password", "")
    try:
        check_policy(password)
    except PasswordPolicyError as err:
        errors["password"] = err.problem
        return ""
    if len(password) < REFERENT_PASSWORD_LENGTH:
        # The referent's account reads the whole school's settings: longer than everyone's.
        errors["password"] = Problem(
            N_("mot de passe : au moins %(count)s caractères pour le compte du référent"),
            {"count": REFERENT_PASSWORD_LENGTH},
        )
        return ""
    if form.get("password_again", "") != password:
        errors["password_again"] = Problem(N_("les deux mots de passe diffèrent"))
    return password


def _local(form: Mapping[str, str], errors: dict[str, Problem]) -> LocalReferent | None:
    login = _field(form, "login").lower()
    if not LOGIN.fullmatch(login):
        errors["login"] = Problem(
            N_("une lettre minuscule ou un chiffre, puis lettres, chiffres, . _ ou - (64 au plus)")
        )
    name = _field(form, "display_name")
    if not name:
        errors["display_name"] = Problem(REQUIRED)
    password = _password(form, errors)
    if errors:
        return None
    return LocalReferent(login, name, password)


def _directory(form: Mapping[str, str], errors: dict[str, Problem]) -> DirectoryBinding | None:
    uri = _field(form, "ldap_uri")
    values: dict[str, Any] = {
        "enabled": True,
        "uri": uri,
        "security": "ldaps" if uri.startswith("ldaps://") else "starttls",
        "bind_dn": _field(form, "ldap_bind_dn"),
        "base_dn": _field(form, "ldap_base_dn"),
    }
    ldap: LdapConfig | None = None
    try:
        ldap = LdapConfig.model_validate(values)
    except ValidationError as err:
        for problem in err.errors():
            where = str(problem["loc"][0]) if problem["loc"] else "uri"
            errors[f"ldap_{where}"] = problem_in(problem)
    if not _field(form, "ldap_base_dn"):
        errors["ldap_base_dn"] = Problem(REQUIRED)
    ca_pem = form.get("ldap_ca", "").strip()
    if ca_pem and "-----BEGIN CERTIFICATE-----" not in ca_pem:
        errors["ldap_ca"] = Problem(N_("un certificat au format PEM (-----BEGIN CERTIFICATE-----)"))
    if ldap is None or errors:
        return None
    return DirectoryBinding(ldap, form.get("ldap_bind_password", ""), ca_pem)


def read_kernel_answers(
    form: Mapping[str, str], interfaces: tuple[str, ...]
) -> tuple[KernelAnswers | None, dict[str, Problem]]:
    """Check the kernel's fields: the answers, or None and every problem by field."""
    errors: dict[str, Problem] = {}
    code = _field(form, "code")
    if not code:
        errors["code"] = Problem(REQUIRED)
    school = _school(form, errors)
    # The referent's account is always a local one: it still opens when the
    # directory is down. The directory, when given, brings everyone else.
    referent_errors: dict[str, Problem] = {}
    referent = _local(form, referent_errors)
    errors.update(referent_errors)
    directory = None
    if _field(form, "ldap_uri"):
        directory_errors: dict[str, Problem] = {}
        directory = _directory(form, directory_errors)
        errors.update(directory_errors)
    admin = _field(form, "admin_interface")
    if admin not in interfaces:
        errors["admin_interface"] = Problem(N_("choisissez une des interfaces du boîtier"))
    certificate = _field(form, "certificate")
    chain_pem = form.get("cert_chain", "").strip()
    key_pem = form.get("cert_key", "").strip()
    if certificate == "upload":
        if not chain_pem:
            errors["cert_chain"] = Problem(REQUIRED)
        if not key_pem:
            errors["cert_key"] = Problem(REQUIRED)
    elif certificate != "local":
        errors["certificate"] = Problem(N_("choisissez l'une des deux possibilités"))
    if errors or school is None or referent is None:
        return None, errors
    kind: Literal["local", "upload"] = "upload" if certificate == "upload" else "local"
    answers = KernelAnswers(code, school, referent, directory, admin, kind, chain_pem, key_pem)
    return answers, errors
