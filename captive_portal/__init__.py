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

Still to come (issue #4): the portal service and pages (login, charter,
vouchers), DHCP with RFC 8910 through dnsmasq, accounting into SQLite,
reconciliation after restarts, the filter integration and the admin UI.
"""
