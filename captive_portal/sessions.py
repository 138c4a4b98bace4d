"""Sessions belong to accounts, devices are sub-records (CARMO #5.17).

A phone that rotates its MAC address is the same person's device: the user
logs in again with one tap and keeps their session, time and data counters.
The MAC only says where to open the gate. Pure state machine: the caller
passes ``now`` and applies the returned gate changes to nftables.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Final, Literal

ConcurrentPolicy = Literal["allow", "refuse", "replace_oldest"]
RefusedReason = Literal["device_cap", "concurrent_login", "quota", "outside_hours"]
_LOCAL_BIT: Final = 0x02


def is_randomised(mac: str) -> bool:
    """Return whether a MAC is locally administered (a randomised, private address)."""
    return bool(int(mac.split(":")[0], 16) & _LOCAL_BIT)


@dataclass(frozen=True, slots=True)
class RolePolicy:
    """Per-role limits (pupil, teacher, staff, guest)."""

    hard_seconds: int = 8 * 3600
    idle_seconds: int = 30 * 60
    max_devices: int = 2
    concurrent: ConcurrentPolicy = "replace_oldest"
    quota_bytes: int | None = None
    fair_use: bool = False  # past the quota: throttle (True) or cut off (False)
    ends_with_school_day: bool = False


@dataclass(frozen=True, slots=True)
class Device:
    """A device attached to a session."""

    mac: str
    ip: str
    attached_at: float
    last_active: float
    randomised: bool


@dataclass(frozen=True, slots=True)
class Session:
    """A user's time on the network, whatever devices and MACs they use."""

    user: str
    role: str
    started_at: float
    ends_at: float
    devices: tuple[Device, ...] = ()
    bytes_used: int = 0  # counted against the daily quota
    throttled: bool = False


@dataclass(frozen=True, slots=True)
class GateChange:
    """What to do in the kernel: open or close a MAC/IP pair."""

    open: tuple[tuple[str, str, int], ...] = ()  # (mac, ip, seconds)
    close: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class LoginResult:
    """The new session state and the gate changes, or why not."""

    session: Session | None
    gate: GateChange = field(default_factory=GateChange)
    refused: RefusedReason | None = None


def login(
    existing: Session | None,
    user: str,
    role: str,
    mac: str,
    ip: str,
    now: float,
    policy: RolePolicy,
    day_ends_at: float | None = None,
    used_today: int = 0,
    ends_at: float | None = None,
) -> LoginResult:
    """Attach a device to the user's session (creating it if needed).

    A new session starts with the bytes already used today (the quota is
    daily) and ends at ``ends_at`` if given (a voucher), else after the
    role's hard timeout, or at the end of the school day if that comes first.
    """
    mac = mac.lower()
    if existing is not None and existing.ends_at <= now:
        existing = None
    if existing is None:
        ends = now + policy.hard_seconds if ends_at is None else ends_at
        if day_ends_at is not None and policy.ends_with_school_day:
            ends = min(ends, day_ends_at)
        if ends <= now:
            return LoginResult(None, refused="outside_hours")
        existing = Session(user, role, now, ends, bytes_used=used_today)
    over_quota = policy.quota_bytes is not None and existing.bytes_used >= policy.quota_bytes
    if over_quota and not policy.fair_use:
        return LoginResult(existing, refused="quota")
    if over_quota:
        existing = replace(existing, throttled=True)
    closing: list[tuple[str, str]] = []
    devices = [d for d in existing.devices if not (d.mac == mac or d.ip == ip)]
    closing += [(d.mac, d.ip) for d in existing.devices if d.ip == ip and d.mac != mac]
    if len(devices) >= policy.max_devices and policy.concurrent != "allow":
        if policy.concurrent == "refuse":
            return LoginResult(existing, refused="device_cap")
        if policy.concurrent == "replace_oldest":
            oldest = min(devices, key=lambda d: d.attached_at)
            devices.remove(oldest)
            closing.append((oldest.mac, oldest.ip))
    device = Device(mac, ip, now, now, is_randomised(mac))
    session = replace(existing, devices=(*devices, device))
    remaining = int(session.ends_at - now)
    return LoginResult(session, GateChange(open=((mac, ip, remaining),), close=tuple(closing)))


def sweep(
    session: Session, now: float, policy: RolePolicy, activity: dict[str, tuple[int, bool]]
) -> tuple[Session | None, GateChange]:
    """Apply counters and timeouts: ``activity`` maps MAC → (new bytes, moved since last).

    Past the quota a fair-use role is throttled (the caller moves its devices
    to the fair-use rate); otherwise its devices are cut and it cannot log in
    again until the next day.
    """
    used = session.bytes_used + sum(new for new, _ in activity.values())
    devices = []
    closing = []
    for device in session.devices:
        new_bytes, moved = activity.get(device.mac, (0, False))
        last = now if moved or new_bytes else device.last_active
        if now - last >= policy.idle_seconds:
            closing.append((device.mac, device.ip))
        else:
            devices.append(replace(device, last_active=last))
    over_quota = policy.quota_bytes is not None and used >= policy.quota_bytes
    if now >= session.ends_at:
        closing += [(d.mac, d.ip) for d in devices]
        return None, GateChange(close=tuple(closing))
    if over_quota and not policy.fair_use:
        closing += [(d.mac, d.ip) for d in devices]
        return replace(session, devices=(), bytes_used=used), GateChange(close=tuple(closing))
    updated = replace(
        session, devices=tuple(devices), bytes_used=used, throttled=session.throttled or over_quota
    )
    # A session whose devices all went idle stays until its end: the person's next
    # device (or the same phone with a new MAC) re-attaches to it.
    return updated, GateChange(close=tuple(closing))


def logout(session: Session, mac: str) -> tuple[Session | None, GateChange]:
    """Detach one device; the session ends with its last device."""
    mac = mac.lower()
    leaving = tuple((d.mac, d.ip) for d in session.devices if d.mac == mac)
    devices = tuple(d for d in session.devices if d.mac != mac)
    if not devices:
        return None, GateChange(close=leaving)
    return replace(session, devices=devices), GateChange(close=leaving)
