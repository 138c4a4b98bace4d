"""Block lists: reading UT1 and common list formats, compiling, looking up.

Reading (pure generators over lines):
- UT1 (tarball or directory): one folder per category; ``domains`` entries
  block the domain **and every subdomain** (UT1/squidGuard semantics, which
  Pi-hole, AdGuard Home and Blocky get wrong); ``urls`` and ``expressions``
  and IP literals cannot be enforced by DNS and are counted, not dropped
  silently;
- plain domain lists (Squid-style ``.example.org`` entries block the domain
  and its subdomains, as every entry does), hosts files and adblock
  ``||domain^`` rules; adblock ``@@||domain^`` exceptions are kept as the
  :data:`EXCEPTION` category, which un-blocks that name and its subdomains
  for the entries of the same list (:func:`filter.policy.decide`);
- a UT1 alias (``porn -> adult``, a symbolic link in the tarball or the
  tree) is a category of its own with the target's domains.

Compiling and looking up the artifact (``*.pfl``) is
:mod:`filter.compiled_list`'s: about 5 bytes per name, memory-mapped, no
Python object per name.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Final, Literal

from appliance.i18n import N_
from appliance.problems import UserError

ListFormat = Literal["ut1", "domains", "hosts", "adblock"]
_LABEL: Final = re.compile(rb"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")
_DOMAIN: Final = re.compile(
    rb"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?\.)+(?=[a-z0-9-]*[a-z])[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
)
_BLOCK: Final = 4 * 1024 * 1024
EXCEPTION: Final = "@exception"  # adblock @@ rules: never a category a group denies
_ADBLOCK: Final = re.compile(r"^\|\|([^/^$|*]+)\^(\$(important|document|all))?$")
_HOSTS_SINKS: Final = frozenset({"0.0.0.0", "127.0.0.1", "::", "::1", "0"})
_HOSTS_SKIP: Final = frozenset(
    {
        "localhost",
        "localhost.localdomain",
        "local",
        "broadcasthost",
        "ip6-localhost",
        "ip6-loopback",
        "0.0.0.0",
    }
)


class ListError(UserError):
    """A list file or artifact that cannot be read."""


@dataclass
class ListStats:
    """What reading a list found, per category."""

    domains: dict[str, int] = field(default_factory=dict)
    not_enforceable: dict[str, int] = field(default_factory=dict)
    examples: dict[str, list[str]] = field(default_factory=dict)  # a few lines per reason

    def count(self, category: str) -> None:
        """Count one enforceable domain."""
        self.domains[category] = self.domains.get(category, 0) + 1

    def skip(self, reason: str, amount: int = 1, line: bytes | str = b"") -> None:
        """Count entries DNS cannot enforce (URLs, regexes, IPs, malformed); keep a few."""
        self.not_enforceable[reason] = self.not_enforceable.get(reason, 0) + amount
        if line:
            kept = self.examples.setdefault(reason, [])
            if len(kept) < 3:
                text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
                kept.append(text.strip()[:120])


def normalise(entry: str) -> bytes | None:
    """Return an entry as a lower-case ASCII name, or None if it is not a domain."""
    name = entry.strip().lower().rstrip(".")
    if name.startswith("*."):
        name = name[2:]
    elif name.startswith("."):  # Squid's ".example.org": the domain and its subdomains
        name = name[1:]
    if not name or len(name) > 253:
        return None
    try:
        raw = name.encode("ascii")
    except UnicodeEncodeError:
        try:
            raw = name.encode("idna")
        except UnicodeError:
            return None
    labels = raw.split(b".")
    if len(labels) < 2 or not all(_LABEL.match(label) for label in labels):
        return None
    return raw


def normalise_bytes(raw: bytes) -> bytes | None:
    """Return a list line as a lower-case ASCII name, or None (the fast path)."""
    name = raw.strip().lower().rstrip(b".")
    if name.startswith(b"*."):
        name = name[2:]
    elif name.startswith(b"."):  # Squid's ".example.org"
        name = name[1:]
    if not name or len(name) > 253:
        return None
    if _DOMAIN.fullmatch(name):
        return name
    if max(name) >= 0x80:
        return normalise(name.decode("utf-8", "replace"))
    return None


def _looks_like_ip(name: bytes) -> bool:
    return b":" in name or name.rsplit(b".", 1)[-1].isdigit()


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return False
    return True


def _slow_line(line: bytes, stats: ListStats) -> bytes | None:
    text = line.split(b"#", 1)[0].strip()
    if not text:
        return None
    if _looks_like_ip(text) and _is_ip(text.decode("ascii", "replace")):
        stats.skip("ip", line=text)
        return None
    name = normalise_bytes(text)
    if name is None:
        stats.skip("malformed", line=text)
    return name


def read_domain_chunks(
    handle: IO[bytes], category: str, stats: ListStats
) -> Iterator[tuple[str, list[bytes]]]:
    """Yield (category, names) in blocks from a plain domain list (UT1 ``domains``).

    Whole blocks are lower-cased and split at once; a line that the domain
    pattern accepts as it is costs one regex match (the 5 M-name hot path).
    """
    fullmatch = _DOMAIN.fullmatch
    rest = b""
    while True:
        block = handle.read(_BLOCK)
        if block:
            block = rest + block
            cut = block.rfind(b"\n")
            if cut < 0:
                rest = block
                continue
            text, rest = block[:cut], block[cut + 1 :]
        else:
            text, rest = rest, b""
        names = []
        for line in text.lower().split(b"\n"):
            if fullmatch(line):
                names.append(line)
            else:
                name = _slow_line(line, stats)
                if name is not None:
                    names.append(name)
        if names:
            stats.domains[category] = stats.domains.get(category, 0) + len(names)
            yield category, names
        if not block:
            return


def _chunked(
    pairs: Iterable[tuple[bytes, str]], size: int = 65_536
) -> Iterator[tuple[str, list[bytes]]]:
    category = ""
    names: list[bytes] = []
    for name, cat in pairs:
        if cat != category or len(names) >= size:
            if names:
                yield category, names
            category, names = cat, []
        names.append(name)
    if names:
        yield category, names


def read_hosts(
    lines: Iterable[str], category: str, stats: ListStats
) -> Iterator[tuple[bytes, str]]:
    """Yield (name, category) from a hosts file (``0.0.0.0 name …``)."""
    for line in lines:
        fields = line.split("#", 1)[0].split()
        if len(fields) < 2:
            continue
        if fields[0] not in _HOSTS_SINKS:
            stats.skip("hosts-redirect")
            continue
        for host in fields[1:]:
            if host in _HOSTS_SKIP:
                continue
            name = normalise(host)
            if name is None:
                stats.skip("malformed", line=host)
                continue
            stats.count(category)
            yield name, category


def read_adblock(
    lines: Iterable[str], category: str, stats: ListStats
) -> Iterator[tuple[bytes, str]]:
    """Yield (name, category) from adblock ``||domain^`` rules; count the rest.

    ``@@||domain^`` exceptions come out as (name, :data:`EXCEPTION`).
    """
    for line in lines:
        text = line.strip()
        if not text or text.startswith(("!", "[", "#")):
            continue
        kind = category
        if text.startswith("@@"):
            kind, text = EXCEPTION, text[2:]
        match = _ADBLOCK.match(text)
        name = normalise(match.group(1)) if match else None
        if name is None:
            stats.skip("adblock-rule", line=line)
            continue
        stats.count(kind)
        yield name, kind


def _text_lines(handle: IO[bytes]) -> Iterator[str]:
    for raw in handle:
        yield raw.decode("utf-8", "replace")


def _count_lines(handle: IO[bytes]) -> int:
    return sum(1 for line in handle if line.strip() and not line.startswith(b"#"))


def read_ut1(path: Path, stats: ListStats) -> Iterator[tuple[str, list[bytes]]]:
    """Yield (category, names) chunks from a UT1 tarball or directory tree."""
    if path.is_dir():
        yield from _read_ut1_tree(path, stats)
        return
    try:
        archive = tarfile.open(path, "r:*")
    except (tarfile.TarError, OSError) as err:
        raise ListError(
            N_("%(path)s : ni une archive ni un dossier UT1 (%(reason)s)"), path=path, reason=err
        ) from err
    with archive:
        found = False
        for member in archive:
            parts = Path(member.name).parts
            if member.issym() and parts and parts[-1] not in ("domains", "urls", "expressions"):
                # An alias category (``porn -> adult``): the link is the folder itself.
                linked = _alias_domains(archive, member)
                if linked is not None:
                    found = True
                    with linked:
                        yield from read_domain_chunks(linked, parts[-1], stats)
                continue
            if len(parts) < 2 or parts[-1] not in ("domains", "urls", "expressions"):
                continue
            if not (member.isfile() or member.issym() or member.islnk()):
                continue
            handle = archive.extractfile(member)
            if handle is None:
                continue
            category = parts[-2]
            with handle:
                if parts[-1] == "domains":
                    found = True
                    yield from read_domain_chunks(handle, category, stats)
                else:
                    stats.skip(parts[-1], _count_lines(handle))
        if not found:
            raise ListError(
                N_("%(path)s : aucun fichier <catégorie>/domains (est-ce une archive UT1 ?)"),
                path=path,
            )


def _alias_domains(archive: tarfile.TarFile, member: tarfile.TarInfo) -> IO[bytes] | None:
    """Return the ``domains`` file of the category an alias links to, if the tarball has it."""
    folder = posixpath.dirname(member.name)
    name = posixpath.normpath(posixpath.join(folder, member.linkname, "domains"))
    try:
        return archive.extractfile(archive.getmember(name))
    except KeyError:
        return None


def _read_ut1_tree(root: Path, stats: ListStats) -> Iterator[tuple[str, list[bytes]]]:
    found = False
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for kind in ("urls", "expressions"):
            extra = folder / kind
            if extra.is_file():
                with extra.open("rb") as handle:
                    stats.skip(kind, _count_lines(handle))
        domains = folder / "domains"
        if domains.is_file():
            found = True
            with domains.open("rb") as handle:
                yield from read_domain_chunks(handle, folder.name, stats)
    if not found:
        nested = root / "blacklists"
        if nested.is_dir():
            yield from _read_ut1_tree(nested, stats)
            return
        raise ListError(
            N_("%(path)s : aucun fichier <catégorie>/domains (est-ce un dossier UT1 ?)"), path=root
        )


def read_list(
    path: Path, list_format: ListFormat, category: str, stats: ListStats
) -> Iterator[tuple[str, list[bytes]]]:
    """Yield (category, names) chunks from a list file of the given format."""
    if list_format == "ut1":
        yield from read_ut1(path, stats)
        return
    try:
        with path.open("rb") as handle:
            if list_format == "domains":
                yield from read_domain_chunks(handle, category, stats)
            elif list_format == "hosts":
                yield from _chunked(read_hosts(_text_lines(handle), category, stats))
            else:
                yield from _chunked(read_adblock(_text_lines(handle), category, stats))
    except OSError as err:
        raise ListError(N_("%(path)s : %(reason)s"), path=path, reason=err.strerror) from err


def suffixes(name: bytes) -> Iterator[bytes]:
    """Yield ``name`` and each parent domain, longest first (not the TLD alone)."""
    labels = name.split(b".")
    for start in range(len(labels) - 1):
        yield b".".join(labels[start:])


def match_suffix(name: bytes, names: frozenset[bytes]) -> bytes | None:
    """Return the entry of ``names`` that is ``name`` or a parent of it."""
    for candidate in suffixes(name):
        if candidate in names:
            return candidate
    labels = name.split(b".")
    if labels[-1] in names:
        return labels[-1]
    return None
