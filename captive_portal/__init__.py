"""Captive portal for BYOD (#7.2, #7.5, #5.17): work in progress (issue #4).

Done so far: the enforcement layer. :mod:`captive_portal.ruleset` renders a
Préau-owned nftables table whose authorised clients are *set elements* keyed on
MAC and IP, with per-element timeouts and counters; never one rule per client.
:mod:`captive_portal.nftables` applies the table and changes elements in atomic
JSON batches. Still to come (issue #4): DHCP with RFC 8910, the RFC 8908 API,
login and charter pages, sessions owned by accounts rather than MACs,
accounting, reconciliation after restarts, and the admin UI.
"""
