"""What operating systems expect from their captive-portal probes, and RFC 8908.

Before login every probe must *not* get its expected answer (so the phone
opens its portal mini-browser); after login it must get exactly that answer
(so the mini-browser closes on "Done"). The RFC 8908 API tells RFC 8910-aware
systems the same thing directly. Pure: the portal's web adapter serves these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

CAPTIVE_JSON: Final = "application/captive+json"


@dataclass(frozen=True, slots=True)
class ProbeAnswer:
    """The exact answer an OS expects once online."""

    status: int
    body: bytes
    content_type: str = "text/plain"


_APPLE: Final = ProbeAnswer(
    200, b"<HTML><HEAD><TITLE>Success</TITLE></HEAD><BODY>Success</BODY></HTML>", "text/html"
)
_NO_CONTENT: Final = ProbeAnswer(204, b"")

# (host, path) → answer once online. Hosts lower case.
PROBES: Final[dict[tuple[str, str], ProbeAnswer]] = {
    ("captive.apple.com", "/hotspot-detect.html"): _APPLE,
    ("www.apple.com", "/library/test/success.html"): _APPLE,
    ("connectivitycheck.gstatic.com", "/generate_204"): _NO_CONTENT,
    ("clients3.google.com", "/generate_204"): _NO_CONTENT,
    ("www.google.com", "/generate_204"): _NO_CONTENT,
    ("connectivitycheck.android.com", "/generate_204"): _NO_CONTENT,
    ("www.msftconnecttest.com", "/connecttest.txt"): ProbeAnswer(200, b"Microsoft Connect Test"),
    ("www.msftncsi.com", "/ncsi.txt"): ProbeAnswer(200, b"Microsoft NCSI"),
    ("detectportal.firefox.com", "/success.txt"): ProbeAnswer(200, b"success\n"),
    ("detectportal.firefox.com", "/canonical.html"): ProbeAnswer(
        200,
        b'<meta http-equiv="refresh" content="0;url=https://support.mozilla.org/kb/captive-portal"/>',
        "text/html",
    ),
}


def probe_answer(host: str, path: str) -> ProbeAnswer | None:
    """Return the online answer for a known probe, or None if it is not one."""
    return PROBES.get((host.lower().rsplit(":", 1)[0], path))


@dataclass(frozen=True, slots=True)
class CaptiveState:
    """What the RFC 8908 API says about one device."""

    captive: bool
    portal_url: str
    venue_url: str = ""
    seconds_remaining: int | None = None
    bytes_remaining: int | None = None
    can_extend: bool = False

    def as_json(self) -> dict[str, object]:
        """Return the RFC 8908 JSON object (keys only when meaningful)."""
        data: dict[str, object] = {"captive": self.captive, "user-portal-url": self.portal_url}
        if self.venue_url:
            data["venue-info-url"] = self.venue_url
        if not self.captive:
            if self.seconds_remaining is not None:
                data["seconds-remaining"] = max(0, self.seconds_remaining)
            if self.bytes_remaining is not None:
                data["bytes-remaining"] = max(0, self.bytes_remaining)
            data["can-extend-session"] = self.can_extend
        return data
