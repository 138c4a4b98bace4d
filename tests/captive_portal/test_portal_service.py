"""The portal end to end in network namespaces: probe → login page → directory
login with the charter → online, accounting, log out, timeouts, a MAC change,
a crash, DHCP, HTTPS (issue #4; CARMO #7.5, #5.17, #7.48, #7.49, 9.2.3)."""

from __future__ import annotations

import contextlib
import ipaddress
import json
import re
import sys
import time
from pathlib import Path

import pytest

from appliance.config import PreauConfig
from captive_portal import state as portal_admin
from tests.captive_portal.conftest import (
    CLIENT_IP,
    DOWNLOAD_BYTES,
    LOGIN_PAGE,
    PORTAL,
    PORTAL_IP,
    SMALL_BYTES,
    WAN_IP,
    Lab,
    add_user,
    phone_request,
    portal_config,
    portal_login,
    run,
    running_portal,
    state_rows,
    wait_until,
    with_core,
)
from tests.conftest import LdapServer, SchoolCA, ldap_section

pytestmark = pytest.mark.timeout(120)
PASSWORD = "pupil-password-1"


def captive(lab: Lab, ns: str = "") -> dict[str, object]:
    """Ask the RFC 8908 API from a phone."""
    jar = lab.other_jar if ns == lab.other else lab.jar
    answer = phone_request(ns or lab.client, jar, "GET", f"{PORTAL}/api/captive")
    data: dict[str, object] = json.loads(answer.body)
    return data


def ip_bytes_received(lab: Lab) -> int:
    """Return the IP bytes the phone's interface received (link bytes minus Ethernet)."""
    stats = f"/sys/class/net/{lab.client_if}/statistics"
    out = run("/usr/bin/cat", f"{stats}/rx_bytes", f"{stats}/rx_packets", ns=lab.client).stdout
    rx_bytes, rx_packets = (int(v) for v in out.split())
    return rx_bytes - 14 * rx_packets


def day_usage(config: PreauConfig, user: str) -> tuple[int, int]:
    """Return (down, up) bytes recorded for ``user``."""
    rows = state_rows(
        config,
        "SELECT COALESCE(SUM(down_bytes), 0), COALESCE(SUM(up_bytes), 0) FROM portal_usage"
        " WHERE user = ?",
        (user,),
    )
    return int(rows[0][0]), int(rows[0][1])


def test_login_with_charter_counts_bytes_and_survives_a_crash(lab: Lab, tmp_path: Path) -> None:
    config, path = portal_config(lab, tmp_path)
    add_user(path, "l.bernard", "pupil", "6A", PASSWORD)
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        # An Apple probe before login lands on the login page, not on "Success".
        probe = lab.phone("GET", f"http://{WAN_IP}/hotspot-detect.html", host="captive.apple.com")
        assert probe.status == 200
        assert "Connexion au Wi-Fi" in probe.body
        assert "charte" in probe.body.lower()
        assert lab.connect(8080)[0] != "connected"
        assert captive(lab)["captive"] is True
        # Without the charter: refused, still offline.
        no_charter = lab.phone(
            "POST",
            LOGIN_PAGE,
            form={"login": "l.bernard", "password": PASSWORD},
            token_page=LOGIN_PAGE,
        )
        assert no_charter.status == 401
        assert "accepter la charte" in no_charter.body
        assert lab.connect(8080)[0] != "connected"
        online = portal_login(lab, "l.bernard", PASSWORD)
        assert online.status == 200, online.body + portal.tail()
        assert "Vous êtes connecté·e" in online.body
        assert lab.client_mac in online.body
        assert lab.connect(8080)[0] == "connected"
        # After login the probe reaches the internet (here: the lab's origin answers
        # as Apple's server does), so the captive mini-browser shows "Done".
        done = lab.phone("GET", f"http://{WAN_IP}/hotspot-detect.html", host="captive.apple.com")
        assert "Success" in done.body
        api = captive(lab)
        assert api["captive"] is False
        assert 0 < int(str(api["seconds-remaining"])) <= 8 * 3600
        # The DNS filter's view: who is on this address, with role and class.
        assert state_rows(
            config,
            "SELECT person_id, role, class_name FROM network_clients WHERE address = ?",
            (CLIENT_IP,),
        ) == [("l.bernard", "pupil", "6A")]
        assert state_rows(config, "SELECT user, version FROM portal_charter") == [
            ("l.bernard", "2026-09")
        ]
        # A 10 MB download is sampled from the kernel counters into SQLite, within
        # 1 % of the IP bytes the phone's own interface received.
        time.sleep(1.2)  # let the sweep take the login's own bytes first
        before_usage = day_usage(config, "l.bernard")[0]
        before_link = ip_bytes_received(lab)
        outcome, size, _ = lab.fetch(f"http://{WAN_IP}/big.bin", timeout=20)
        assert (outcome, size) == ("ok", DOWNLOAD_BYTES)
        received = ip_bytes_received(lab) - before_link
        assert wait_until(
            lambda: day_usage(config, "l.bernard")[0] - before_usage >= received * 0.99
        ), portal.tail()
        time.sleep(1.2)
        counted = day_usage(config, "l.bernard")[0] - before_usage
        assert abs(counted - received) <= received * 0.01, (counted, received)
        assert DOWNLOAD_BYTES <= counted
        # SIGKILL and restart: the table is rebuilt and the session put back first,
        # and the orphaned dnsmasq is stopped before the new one starts: never two
        # DHCP servers (issue #11).
        conf = config.site.data_dir / "portal" / "dnsmasq.conf"
        first = dnsmasq_pids(conf)
        assert len(first) == 1
        portal.kill()
        portal.start()
        assert lab.connect(8080)[0] == "connected", portal.tail()
        assert captive(lab)["captive"] is False
        assert wait_until(lambda: len(dnsmasq_pids(conf)) == 1)
        assert dnsmasq_pids(conf) != first
        assert wait_until(lambda: not Path(f"/proc/{first[0]}").exists())


def dnsmasq_pids(conf: Path) -> list[int]:
    """Return the pids of the DHCP servers running with ``conf`` (not their script helpers)."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if argv[0].endswith(b"dnsmasq") and f"--conf-file={conf}".encode() in argv:
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = (entry / "stat").read_text()
                found[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    # dnsmasq forks a helper for its lease script: count the servers, not the helpers.
    return sorted(pid for pid, parent in found.items() if parent not in found)


def test_ldap_pupil_logs_in_and_out_and_accepts_each_charter_version(
    lab: Lab, tmp_path: Path, slapd_factory: object, test_ca: SchoolCA
) -> None:
    # The directory runs inside the appliance namespace, on its loopback.
    server: LdapServer = slapd_factory(netns=lab.appliance)  # type: ignore[operator]
    pupil = next(a for a in server.accounts.values() if a.role == "pupil")
    config, path = portal_config(
        lab, tmp_path, identity={"ldap": ldap_section(server, test_ca.ca_cert, tmp_path)}
    )
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        wrong = portal_login(lab, pupil.uid, "not-the-password")
        assert wrong.status == 401
        assert "incorrect" in wrong.body
        # A way forward (#16 scope 6): which login, whom to ask, the login kept.
        assert "celui de l&#39;ENT" in wrong.body
        assert f'value="{pupil.uid}"' in wrong.body
        assert '<details class="help" id="help" open>' in wrong.body
        online = portal_login(lab, pupil.uid, pupil.password)
        assert online.status == 200, online.body + portal.tail()
        assert lab.connect(8080)[0] == "connected"
        assert state_rows(
            config, "SELECT class_name FROM network_clients WHERE person_id = ?", (pupil.uid,)
        ) == [(pupil.class_name,)]
        # Log out from the status page: offline at once, the API says captive.
        status = lab.phone("GET", f"{PORTAL}/status")
        token = re.search(r'name="form_token" value="([^"]+)"', status.body)
        assert token is not None
        out = lab.phone("POST", f"{PORTAL}/logout", form={"form_token": token.group(1)})
        assert out.status == 200
        assert "déconnecté" in out.body
        assert lab.connect(8080, timeout=1)[0] != "connected"
        assert captive(lab)["captive"] is True
        assert state_rows(config, "SELECT * FROM portal_sessions") == []
        # A new charter version: the old one is refused, the new one shown and recorded.
        with_core(
            config,
            lambda core: portal_admin.publish_charter(
                core, version="2027-01", text="Nouvelle charte 2027.", actor="cmartin", source="t"
            ),
        )
        assert wait_until(lambda: "2027-01" in lab.phone("GET", LOGIN_PAGE).body)
        old = portal_login(lab, pupil.uid, pupil.password)
        assert old.status == 401
        assert "Nouvelle charte 2027." in old.body
        again = portal_login(lab, pupil.uid, pupil.password, charter_version="2027-01")
        assert again.status == 200, again.body
        assert lab.connect(8080)[0] == "connected"
        assert state_rows(
            config,
            "SELECT version FROM portal_charter WHERE user = ? ORDER BY version",
            (pupil.uid,),
        ) == [("2026-09",), ("2027-01",)]


def test_idle_and_hard_timeouts_close_the_gate_within_seconds(lab: Lab, tmp_path: Path) -> None:
    config, path = portal_config(
        lab,
        tmp_path,
        roles={
            "pupil": {"idle_minutes": 0.05, "hard_minutes": 60},  # idle after 3 s
            "teacher": {"idle_minutes": 60, "hard_minutes": 0.1},  # hard after 6 s
        },
    )
    add_user(path, "idle.pupil", "pupil", "6A", PASSWORD)
    add_user(path, "busy.teacher", "teacher", "", PASSWORD)
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        assert portal_login(lab, "idle.pupil", PASSWORD).status == 200
        teacher = portal_login(lab, "busy.teacher", PASSWORD, ns=lab.other)
        assert teacher.status == 200, teacher.body + portal.tail()
        assert lab.connect(8080, ns=lab.other)[0] == "connected"
        # The hard limit counts from the session's start, as the portal stored it: not
        # from when the (slow, on a loaded machine) login answer reached the phone.
        rows = state_rows(
            config, "SELECT started_at FROM portal_sessions WHERE user = 'busy.teacher'"
        )
        started_at = float(rows[0][0])
        # The pupil's phone stays silent: its device is logged out for idleness,
        # the session stays (a new login re-attaches to it).
        assert wait_until(lambda: captive(lab)["captive"] is True, seconds=10)
        assert lab.connect(8080, timeout=1)[0] != "connected"
        assert state_rows(config, "SELECT user FROM portal_sessions WHERE user = 'idle.pupil'")
        # The teacher keeps browsing but reaches the hard timeout (6 s after the start).
        while time.time() - started_at < 4:
            assert lab.connect(8080, ns=lab.other)[0] == "connected"
            time.sleep(0.5)
        assert wait_until(
            lambda: lab.connect(8080, timeout=1, ns=lab.other)[0] != "connected", seconds=6
        )
        assert wait_until(
            lambda: (
                not state_rows(config, "SELECT 1 FROM portal_sessions WHERE user = 'busy.teacher'")
            )
        ), portal.tail()


def test_a_busy_phone_keeps_its_idle_time_across_an_extend_and_a_restart(
    lab: Lab, tmp_path: Path
) -> None:
    """Issue #11: sessions reloaded from the DB took the attach time as last activity."""
    config, path = portal_config(
        lab,
        tmp_path,
        roles={"pupil": {"idle_minutes": 0.1, "hard_minutes": 60}},  # idle 6 s
    )
    add_user(path, "actif", "pupil", "6A", PASSWORD)
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        assert portal_login(lab, "actif", PASSWORD).status == 200
        started = time.monotonic()
        # Busy for longer than the idle limit: one small transfer every second.
        while time.monotonic() - started < 9:
            assert lab.fetch(f"http://{WAN_IP}/small.bin")[0] == "ok", portal.tail()
            time.sleep(1)
        moved = state_rows(config, "SELECT last_active, attached_at FROM portal_devices")
        assert moved[0][0] > moved[0][1] + 5  # the DB follows the activity
        # The referent extends the session: the portal reloads its sessions from the DB.
        ends = with_core(
            config,
            lambda core: portal_admin.extend_session(core, "actif", 60, actor="r", source="t"),
        )
        assert ends is not None
        for _ in range(4):  # still busy: never cut
            assert lab.fetch(f"http://{WAN_IP}/small.bin")[0] == "ok", portal.tail()
            time.sleep(1)
    with running_portal(lab, path, tmp_path / "portal-2.log") as portal:
        for _ in range(4):  # a restart reloads the sessions too: still online while busy
            assert lab.fetch(f"http://{WAN_IP}/small.bin")[0] == "ok", portal.tail()
            time.sleep(1)
        # Quiet now: cut once its real idle time has run out, not before.
        # (Asked of the portal's own API: a probe through the gate would be activity.)
        quiet = time.monotonic()
        assert wait_until(lambda: captive(lab)["captive"] is True, seconds=15), portal.tail()
        assert time.monotonic() - quiet >= 4


def test_bytes_since_the_last_sweep_are_counted_when_the_portal_stops(
    lab: Lab, tmp_path: Path
) -> None:
    """Issue #11: a restart rebuilds the table, and the bytes since the last sweep were lost."""
    config, path = portal_config(lab, tmp_path, sweep_seconds=10)
    add_user(path, "l.bernard", "pupil", "6A", PASSWORD)
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        assert portal_login(lab, "l.bernard", PASSWORD).status == 200
        time.sleep(0.5)
        outcome, size, _ = lab.fetch(f"http://{WAN_IP}/big.bin", timeout=20)
        assert (outcome, size) == ("ok", DOWNLOAD_BYTES)
        portal.stop()  # SIGTERM, before the next sweep (every 10 s here)
    assert day_usage(config, "l.bernard")[0] >= DOWNLOAD_BYTES


def test_log_out_this_device_or_every_device(lab: Lab, tmp_path: Path) -> None:
    """Issue #11: "Me déconnecter" left the account's other devices online, unsaid."""
    config, path = portal_config(lab, tmp_path)
    add_user(path, "deux.appareils", "pupil", "6A", PASSWORD)

    def log_out(ns: str, **extra: str) -> str:
        jar = lab.other_jar if ns == lab.other else lab.jar
        status = phone_request(ns, jar, "GET", f"{PORTAL}/status")
        token = re.search(r'name="form_token" value="([^"]+)"', status.body)
        assert token is not None
        phone_request(
            ns, jar, "POST", f"{PORTAL}/logout", form={"form_token": token.group(1), **extra}
        )
        return status.body

    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        for _ in range(2):
            assert portal_login(lab, "deux.appareils", PASSWORD).status == 200
            other = portal_login(lab, "deux.appareils", PASSWORD, ns=lab.other)
            assert other.status == 200, other.body + portal.tail()
            assert lab.connect(8080)[0] == "connected"
            assert lab.connect(8080, ns=lab.other)[0] == "connected"
            page = log_out(lab.client)  # this device only
            assert "Déconnecter tous mes appareils" in page
            assert "restent connectés" in page
            assert lab.connect(8080, timeout=1)[0] != "connected"
            assert lab.connect(8080, ns=lab.other)[0] == "connected"
            assert portal_login(lab, "deux.appareils", PASSWORD).status == 200
            log_out(lab.client, scope="all")  # every device of the account
            assert lab.connect(8080, timeout=1)[0] != "connected"
            assert wait_until(lambda: lab.connect(8080, timeout=1, ns=lab.other)[0] != "connected")
            assert state_rows(config, "SELECT * FROM portal_sessions") == []


def test_an_online_phone_never_lands_on_a_dead_end(lab: Lab, tmp_path: Path) -> None:
    """#16 scope 6: reopening the portal shows the status; an old logout form still works."""
    config, path = portal_config(lab, tmp_path)
    add_user(path, "l.bernard", "pupil", "6A", PASSWORD)
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        assert portal_login(lab, "l.bernard", PASSWORD).status == 200, portal.tail()
        assert lab.fetch(f"http://{WAN_IP}/small.bin")[:2] == ("ok", SMALL_BYTES)
        assert wait_until(lambda: day_usage(config, "l.bernard")[0] >= SMALL_BYTES)
        # Reopening the portal: the status page, with the school's name, not the form.
        again = lab.phone("GET", LOGIN_PAGE)
        assert again.status == 200
        assert "Vous êtes connecté·e" in again.body
        assert 'name="password"' not in again.body
        assert "Collège test" in again.body
        # Sizes as French writes them: a decimal comma and a non-breaking space.
        assert re.search(r"<dd>\d+(,\d)?\u00a0(o|ko|Mo)", again.body), again.body
        # "Me déconnecter" tapped long after the page opened: its form has expired.
        stale = lab.phone("POST", f"{PORTAL}/logout", form={"form_token": "expired"})
        assert stale.status == 409
        assert "Cette page avait expiré : touchez à nouveau le bouton." in stale.body
        assert lab.connect(8080)[0] == "connected"  # nothing changed, nothing lost
        token = re.search(r'name="form_token" value="([^"]+)"', stale.body)
        assert token is not None  # …and the page has a fresh button that works
        out = lab.phone("POST", f"{PORTAL}/logout", form={"form_token": token.group(1)})
        assert "Vous êtes déconnecté·e" in out.body
        assert lab.connect(8080, timeout=1)[0] != "connected"
        # The charter has its own page, reachable from the login form before going online.
        charter = lab.phone("GET", f"{PORTAL}/charte")
        assert charter.status == 200
        assert 'id="charter-text"' in charter.body
        # Offline, an old form leads back to the login, never to a page without a way on.
        gone = lab.phone("POST", f"{PORTAL}/logout", form={"form_token": "expired"})
        assert gone.status == 400
        assert 'href="/login?lang=fr"' in gone.body


def test_a_new_mac_reattaches_in_one_tap_and_keeps_the_counters(lab: Lab, tmp_path: Path) -> None:
    config, path = portal_config(lab, tmp_path)
    add_user(path, "l.bernard", "pupil", "6A", PASSWORD)
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        assert portal_login(lab, "l.bernard", PASSWORD).status == 200
        assert lab.fetch(f"http://{WAN_IP}/small.bin")[:2] == ("ok", SMALL_BYTES)
        assert wait_until(lambda: day_usage(config, "l.bernard")[0] >= SMALL_BYTES)
        used = state_rows(config, "SELECT bytes_used FROM portal_sessions")[0][0]
        assert used >= SMALL_BYTES
        # The phone rotates its MAC (a private, locally administered address).
        new_mac = "02:5e:a0:00:00:42"
        run("/usr/sbin/ip", "link", "set", lab.client_if, "address", new_mac, ns=lab.client)
        run("/usr/sbin/ip", "neigh", "flush", "to", CLIENT_IP, ns=lab.appliance)
        assert lab.connect(8080, timeout=1)[0] != "connected"
        page = lab.phone("GET", LOGIN_PAGE)
        assert "Continuer en tant que l.bernard" in page.body
        resumed = lab.phone("POST", f"{PORTAL}/resume", form={}, token_page=LOGIN_PAGE)
        assert resumed.status == 200, resumed.body + portal.tail()
        assert "adresse privée" in resumed.body
        assert lab.connect(8080)[0] == "connected"
        assert state_rows(config, "SELECT mac, randomised FROM portal_devices") == [(new_mac, 1)]
        assert state_rows(config, "SELECT bytes_used FROM portal_sessions")[0][0] >= used
        # Without the cookie (another phone on another address) there is no one-tap login.
        other = lab.phone("GET", LOGIN_PAGE, jar=lab.other_jar)
        assert "Continuer en tant que" not in other.body


def test_https_captive_api_is_private_and_truthful(
    lab: Lab, tmp_path: Path, test_ca: SchoolCA
) -> None:
    _, path = portal_config(
        lab,
        tmp_path,
        tls_cert=str(test_ca.server_cert),
        tls_key=str(test_ca.server_key),
        https_port=8443,
    )
    script = (
        "import json, ssl, sys, urllib.request\n"
        f"context = ssl.create_default_context(cafile={str(test_ca.ca_cert)!r})\n"
        f"response = urllib.request.urlopen('https://{PORTAL_IP}:8443/api/captive',"
        " context=context, timeout=5)\n"
        "print(json.dumps({'type': response.headers['Content-Type'],"
        " 'cache': response.headers['Cache-Control'], 'body': json.load(response)}))\n"
    )
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        out = run(sys.executable, "-c", script, ns=lab.client, check=False)
        assert out.returncode == 0, out.stderr + portal.tail()
        answer = json.loads(out.stdout)
        assert answer["type"].startswith("application/captive+json")
        assert answer["cache"] == "private"
        assert answer["body"]["captive"] is True
        assert answer["body"]["user-portal-url"] == f"https://{PORTAL_IP}:8443/login"
        # Plain HTTP still redirects probes to the HTTPS login page.
        probe = run(
            sys.executable,
            "-c",
            "import http.client\n"
            f"c = http.client.HTTPConnection('{WAN_IP}', 80, timeout=5)\n"
            "c.request('GET', '/generate_204', headers={'Host': 'connectivitycheck.gstatic.com'})\n"
            "r = c.getresponse(); print(r.status, r.getheader('Location'))\n",
            ns=lab.client,
        ).stdout.split()
        assert probe == ["302", f"https://{PORTAL_IP}:8443/login"]


DHCP_CLIENT = """
import sys
from scapy.all import BOOTP, DHCP, IP, UDP, Ether, conf, get_if_hwaddr, srp1
conf.checkIPaddr = False
iface = sys.argv[1]
mac = get_if_hwaddr(iface)
chaddr = bytes.fromhex(mac.replace(":", "")) + bytes(10)
def ask(kind, extra):
    packet = (
        Ether(src=mac, dst="ff:ff:ff:ff:ff:ff")
        / IP(src="0.0.0.0", dst="255.255.255.255")
        / UDP(sport=68, dport=67)
        / BOOTP(chaddr=chaddr, xid=0x5EA)
        / DHCP(options=[("message-type", kind), *extra, "end"])
    )
    return srp1(packet, iface=iface, timeout=5, verbose=0)
asked = [("param_req_list", [1, 3, 6, 15, 114]), ("vendor_class_id", b"android-dhcp-14")]
offer = ask("discover", [*asked, ("hostname", b"tablette-12")])
if offer is None:
    print("no-offer")
    sys.exit(0)
options = {o[0]: o[1] for o in offer[DHCP].options if isinstance(o, tuple)}
portal = options.get("captive-portal", options.get(114, b""))
address = offer[BOOTP].yiaddr
ack = ask("request", [("requested_addr", address), ("server_id", offer[IP].src),
                      ("hostname", b"tablette-12"), *asked])
print(address, portal.decode() if isinstance(portal, bytes) else portal, "ack" if ack else "nak")
"""


def test_dhcp_announces_the_portal_api_and_feeds_the_inventory(lab: Lab, tmp_path: Path) -> None:
    config, path = portal_config(lab, tmp_path, captive_api_url=f"https://{PORTAL_IP}/api/captive")
    with running_portal(lab, path, tmp_path / "portal.log") as portal:
        offer: list[str] = []
        for _ in range(20):
            offer = run(
                sys.executable, "-c", DHCP_CLIENT, lab.client_if, ns=lab.client
            ).stdout.split()
            if offer and offer[0] != "no-offer":
                break
            time.sleep(0.25)
        address, portal_uri, acked = offer
        assert ipaddress.IPv4Address("10.77.0.100") <= ipaddress.IPv4Address(address)
        assert ipaddress.IPv4Address(address) <= ipaddress.IPv4Address("10.77.0.250")
        assert portal_uri == f"https://{PORTAL_IP}/api/captive"  # RFC 8910 option 114
        assert acked == "ack"
        # The lease reaches the device inventory (MAC, address, host name).
        assert wait_until(
            lambda: (
                state_rows(config, "SELECT mac, ip, hostname FROM portal_dhcp_devices")
                == [(lab.client_mac, address, "tablette-12")]
            )
        ), portal.tail()
