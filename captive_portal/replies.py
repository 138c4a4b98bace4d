"""What the portal's API answers, one model per answer (the OpenAPI document shows them)."""

from __future__ import annotations

from pydantic import Field, RootModel

from appliance.web.api_routes import Reply
from captive_portal.config import PortalRoleConfig


class SessionDevice(Reply):
    """A device of a Wi-Fi session, with today's traffic."""

    mac: str
    ip: str
    randomised: bool
    attached_at: float
    last_active: float
    up_bytes: int
    down_bytes: int


class LiveSession(Reply):
    """An open Wi-Fi session."""

    user: str
    role: str
    class_: str = Field(alias="class")
    started_at: float
    ends_at: float
    seconds_left: int
    bytes_used: int
    throttled: bool
    devices: list[SessionDevice]


class SessionsReply(Reply):
    """The open Wi-Fi sessions."""

    sessions: list[LiveSession]


class SessionEnded(Reply):
    """The account logged out of the Wi-Fi."""

    ended: str


class SessionExtended(Reply):
    """A session and its new end."""

    user: str
    ends_at: float


class Voucher(Reply):
    """A guest voucher (never its code)."""

    id: int
    label: str
    minutes: int
    max_devices: int
    created_by: str
    created_at: float
    valid_until: float
    first_used_at: float | None
    revoked_at: float | None


class VouchersReply(Reply):
    """The guest vouchers, newest first."""

    vouchers: list[Voucher]


class NewVoucher(Reply):
    """A voucher just made, with its code (shown in this answer only)."""

    id: int
    code: str


class NewVouchersReply(Reply):
    """The vouchers just made."""

    vouchers: list[NewVoucher]


class VoucherRevoked(Reply):
    """The voucher revoked."""

    revoked: int


class Charter(Reply):
    """A charter version."""

    version: str
    text: str
    created_by: str
    created_at: float


class CharterListed(Charter):
    """A charter version and how many accepted it."""

    accepted: int


class ChartersReply(Reply):
    """The version in force and every version, newest first."""

    current: str
    charters: list[CharterListed]


class UsageRow(Reply):
    """Traffic of one day, per account (with its devices) or per device."""

    day: str
    user: str
    up_bytes: int
    down_bytes: int
    mac: str | None = None
    devices: int | None = None


class UsageReply(Reply):
    """Traffic between two days."""

    from_: str = Field(alias="from")
    to: str
    usage: list[UsageRow]


class Alert(Reply):
    """An account past the daily usage threshold."""

    day: str
    user: str
    kind: str
    bytes: int
    created_at: float


class AlertsReply(Reply):
    """The usage alerts, newest first."""

    alerts: list[Alert]


class DhcpDevice(Reply):
    """A device the BYOD DHCP server has seen."""

    mac: str
    ip: str
    hostname: str
    vendor_class: str
    fingerprint: str
    first_seen: float
    last_seen: float


class DevicesReply(Reply):
    """The DHCP inventory, latest seen first."""

    devices: list[DhcpDevice]


class RolesReply(RootModel[dict[str, PortalRoleConfig]]):
    """The Wi-Fi rules of each role."""
