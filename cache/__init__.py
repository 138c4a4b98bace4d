"""The app and update cache: one download per site, streamed to every waiting device.

A sans-I/O core (:mod:`cache.rules`: which requests are cached and under which
key; :mod:`cache.chunks`: the chunk bitmap and byte-range arithmetic) and an
adapter (:mod:`cache.objects` on disk, :mod:`cache.fill` for single-flight
upstream fetches, :mod:`cache.service` for the HTTP side).
"""
