"""Which requests the cache keeps, and under which key: per-CDN rules from a data file.

The rules ship in ``cache/rules.toml`` (versioned with the code, replaceable
by a site's own file). The first rule whose host, path and User-Agent
patterns all match decides; a request no rule matches passes through
uncached. A rule collapses the hosts of one CDN into one key namespace
(``key_host``), so a file fetched from ``ftp.fr.debian.org`` is a hit for
``deb.debian.org``, and strips the query unless told to keep it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qsl, urlencode

DEFAULT_RULES: Final = Path(__file__).with_name("rules.toml")
ANY_IP: Final = "@ip"  # a host pattern: any IP literal (Delivery Optimization hands those out)
IMMUTABLE: Final = -1

_FIELDS: Final = {
    "name",
    "class",
    "hosts",
    "paths",
    "user_agents",
    "key_host",
    "keep_query",
    "max_age",
    "complete",
    "steer",
    "cache",
}


class RulesError(ValueError):
    """A rules file that cannot be used; the message names the rule and the key."""


@dataclass(frozen=True, slots=True)
class Rule:
    """One CDN's cache rule."""

    name: str
    content_class: str
    hosts: tuple[str, ...]
    paths: tuple[re.Pattern[str], ...] = ()
    user_agents: tuple[re.Pattern[str], ...] = ()
    key_host: str = ""
    keep_query: bool = False
    max_age: int = IMMUTABLE
    complete: bool = True
    steer: bool = True
    cache: bool = True

    def matches_host(self, host: str) -> bool:
        """Return whether ``host`` (lower case, no port) is one of this rule's hosts."""
        for pattern in self.hosts:
            if pattern == ANY_IP:
                if is_ip(host):
                    return True
            elif pattern.startswith("*."):
                if host.endswith(pattern[1:]):
                    return True
            elif host == pattern:
                return True
        return False

    def matches(self, host: str, path: str, user_agent: str) -> bool:
        """Return whether a request for ``host`` and ``path`` falls under this rule."""
        if not self.matches_host(host):
            return False
        if self.paths and not any(p.search(path) for p in self.paths):
            return False
        return not self.user_agents or any(p.search(user_agent) for p in self.user_agents)

    def key(self, host: str, path: str, query: str) -> str:
        """Return the cache key of a request this rule matched."""
        key = f"{self.key_host or host}{path}"
        if self.keep_query and query:
            key += "?" + urlencode(sorted(parse_qsl(query, keep_blank_values=True)))
        return key


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules of one file, in order."""

    version: str
    rules: tuple[Rule, ...]

    def match(self, host: str, path: str, user_agent: str = "") -> Rule | None:
        """Return the first rule for this request, or None (pass through uncached)."""
        host = normalise_host(host)
        for rule in self.rules:
            if rule.matches(host, path, user_agent):
                return rule
        return None

    def serves_host(self, host: str) -> bool:
        """Return whether some rule names ``host`` by name (IP-literal rules do not count)."""
        host = normalise_host(host)
        if is_ip(host):
            return False
        return any(rule.matches_host(host) for rule in self.rules)

    def steered_names(self) -> list[str]:
        """Return the host patterns the DNS filter answers with the appliance's address."""
        names: list[str] = []
        for rule in self.rules:
            if rule.steer and rule.cache:
                names.extend(h for h in rule.hosts if h != ANY_IP and h not in names)
        return names


def normalise_host(host: str) -> str:
    """Return a Host header without port, brackets or trailing dot, in lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1 : host.find("]")] if "]" in host else host
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def key_digest(key: str) -> str:
    """Return the name an object is stored under (hex SHA-256 of its key)."""
    return hashlib.sha256(key.encode()).hexdigest()


def is_ip(host: str) -> bool:
    """Return whether ``host`` is an IP address literal."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _strings(rule: str, key: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RulesError(f"rule {rule}: {key}: expected a list of non-empty strings")
    return tuple(value)


def _patterns(rule: str, key: str, value: Any) -> tuple[re.Pattern[str], ...]:
    compiled = []
    for text in _strings(rule, key, value):
        try:
            compiled.append(re.compile(text))
        except re.error as err:
            raise RulesError(f"rule {rule}: {key}: {text!r} is not a regular expression") from err
    return tuple(compiled)


def _rule(position: int, raw: Any) -> Rule:
    if not isinstance(raw, dict):
        raise RulesError(f"rule #{position}: expected a table")
    name = raw.get("name")
    if not isinstance(name, str) or not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise RulesError(f"rule #{position}: name: expected lower-case letters, digits, dashes")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise RulesError(f"rule {name}: {unknown[0]}: unknown key")
    hosts = tuple(h.lower() for h in _strings(name, "hosts", raw.get("hosts")))
    for host in hosts:
        bare = host.removeprefix("*.")
        if host != ANY_IP and not re.fullmatch(r"[a-z0-9.-]+", bare):
            raise RulesError(f"rule {name}: hosts: {host!r} is not a host name or *.suffix")
    if ANY_IP in hosts and not raw.get("paths"):
        # An IP literal can be anything, the box included: only a CDN's own paths pass.
        raise RulesError(f"rule {name}: paths: an @ip rule must name the paths it serves")
    content_class = raw.get("class", name)
    max_age = raw.get("max_age", IMMUTABLE)
    if not isinstance(max_age, int) or max_age < IMMUTABLE:
        raise RulesError(f"rule {name}: max_age: expected seconds, or -1 for immutable")
    flags = {}
    for flag, default in (("keep_query", False), ("complete", True), ("steer", True)):
        value = raw.get(flag, default)
        if not isinstance(value, bool):
            raise RulesError(f"rule {name}: {flag}: expected true or false")
        flags[flag] = value
    cache = raw.get("cache", True)
    if not isinstance(cache, bool):
        raise RulesError(f"rule {name}: cache: expected true or false")
    key_host = raw.get("key_host", "")
    if not isinstance(key_host, str) or not isinstance(content_class, str):
        raise RulesError(f"rule {name}: key_host and class must be strings")
    return Rule(
        name=name,
        content_class=content_class,
        hosts=hosts,
        paths=_patterns(name, "paths", raw.get("paths", [])),
        user_agents=_patterns(name, "user_agents", raw.get("user_agents", [])),
        key_host=key_host,
        max_age=max_age,
        cache=cache,
        **flags,
    )


def parse_rules(text: str) -> RuleSet:
    """Parse a rules file; raise RulesError naming the rule and key at fault."""
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise RulesError(f"not TOML: {err}") from err
    version = data.get("version")
    if not isinstance(version, str) or not version:
        raise RulesError("version: expected a non-empty string")
    extra = sorted(set(data) - {"version", "rule"})
    if extra:
        raise RulesError(f"{extra[0]}: unknown key")
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raise RulesError("rule: expected [[rule]] tables")
    rules = tuple(_rule(i + 1, raw) for i, raw in enumerate(raw_rules))
    names = [rule.name for rule in rules]
    duplicated = sorted({n for n in names if names.count(n) > 1})
    if duplicated:
        raise RulesError(f"rule {duplicated[0]}: name: used twice")
    return RuleSet(version, rules)


def load_rules(path: Path | None = None) -> RuleSet:
    """Read a rules file (blocking), the shipped one by default."""
    target = path or DEFAULT_RULES
    try:
        return parse_rules(target.read_text(encoding="utf-8"))
    except RulesError as err:
        raise RulesError(f"{target}: {err}") from err
