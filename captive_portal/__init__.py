"""Captive portal for BYOD (#7.2, #7.5, #5.17): work in progress (issue #4).

Done so far:
- :mod:`captive_portal.ruleset` renders a Préau-owned nftables table whose
  authorised clients are *set elements* keyed on MAC and IP, with per-element
  timeouts and counters (never one rule per client), and
  :mod:`captive_portal.nftables` changes them in atomic JSON batches;
- :mod:`captive_portal.sessions`: sessions owned by accounts, devices as
  sub-records, randomised MACs flagged and re-attached without losing
  counters, device caps, idle/hard/end-of-day timeouts, quotas (pure);
- :mod:`captive_portal.probes`: OS probe answers and the RFC 8908 JSON (pure).

- :mod:`captive_portal.service`: the portal itself (probe redirects, login
  with the charter, RFC 8908, status), sessions stored and restored into the
  kernel at start, ``network_clients`` written for the DNS filter.

- :mod:`captive_portal.dhcp`: dnsmasq (DHCP only) announcing the RFC 8908 API
  in option 114 (RFC 8910); the service samples counters into daily usage and
  applies idle, hard and quota limits.

Still to come (issue #4): DHCPv6/RA announcements, HTTPS for the API, the
walled garden fed from DNS answers, usage roll-ups and alerts, reconciliation,
vouchers, kick/extend and the admin UI, IPv6 sets.
"""
