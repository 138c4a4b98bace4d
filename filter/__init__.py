"""DNS content filtering (#7.2, #9.2, #9.6).

Pure cores: :mod:`filter.wire` (DNS bytes), :mod:`filter.lists` (reading and
compiling lists), :mod:`filter.policy` (the decision), :mod:`filter.clients`
(address → group), :mod:`filter.cache`, :mod:`filter.ratelimit` and
:mod:`filter.engine` (packet in, answer out). The adapters are
:mod:`filter.upstream` (forwarding) and :mod:`filter.service` (sockets).
"""
