"""The cache's HTTP side: which request maps to which object, served or relayed."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import IO, TYPE_CHECKING

import aiohttp
from aiohttp import web
from multidict import CIMultiDict
from yarl import URL

from appliance.destinations import HostRefused, check_host
from cache.chunks import RangeNotSatisfiable, content_range, parse_range
from cache.fill import CachedObject
from cache.rules import Rule, is_ip, normalise_host
from cache.upstream import (
    HOP_BY_HOP,
)

if TYPE_CHECKING:
    pass

from cache.cache_base import (
    _KEPT_RESPONSE,
    DO_ORIGIN,
    LOCAL_PATHS,
    Target,
    _forwarded,
    _open_data,
    _refuse_origin,
    _whole,
)
from cache.objects_side import ObjectsSide

_LOGGER = logging.getLogger(__name__)


class CacheHttp(ObjectsSide):
    """The cache's HTTP side: which request maps to which object, served or relayed."""

    def target(self, request: web.Request) -> Target | None:
        """Return where ``request`` goes upstream; None when it is for the cache itself.

        Raises HostRefused for a host that is not a host (a 400).
        """
        assert self.rules is not None  # noqa: S101 - async_setup ran
        url = request.url
        raw_host = url.host or ""
        port = url.explicit_port
        query = url.raw_query_string
        origin = request.query.get(DO_ORIGIN)
        if origin:
            raw_host, port = normalise_host(origin), None
            query = "&".join(
                part for part in query.split("&") if not part.startswith(f"{DO_ORIGIN}=")
            )
        elif not raw_host or normalise_host(raw_host) in self._listeners:
            return None
        host = check_host(raw_host)
        if not origin and url.path in LOCAL_PATHS and not self.rules.serves_host(host):
            return None  # WPAD: wpad.<domain> is steered here for the PAC file
        rule = self.rules.match(host, url.raw_path, request.headers.get("User-Agent", ""))
        upstream = URL.build(
            scheme="http",
            host=host,
            port=port,
            path=url.raw_path,
            query_string=query,
            encoded=True,
        )
        key = rule.key(host, url.raw_path, query) if rule is not None and rule.cache else ""
        return Target(host, upstream, rule, key)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        # Never a general proxy (#11): GET and HEAD only, to a host *and* path a
        # rule names, never to the box itself or loopback (checked again on the
        # resolved addresses, see cache.upstream), and never with credentials.
        if request.method not in ("GET", "HEAD"):
            raise web.HTTPMethodNotAllowed(request.method, ["GET", "HEAD"])
        try:
            target = self.target(request)
        except (HostRefused, ValueError) as err:
            raise web.HTTPBadRequest(text=f"Préau cache: {err}\n") from None
        if target is None:
            return await self._local(request)
        if target.rule is None:
            # Not an open proxy: anything else would go round the DNS filter.
            raise web.HTTPForbidden(text="Préau cache: no rule serves this address\n")
        why = self._own.refused(target.host) if is_ip(target.host) else None
        if why is not None:
            raise web.HTTPForbidden(text=f"Préau cache: {why}\n")
        if not target.key:
            self.traffic.on_request("other", "relayed")
            return await self._relay(request, target.url)
        try:
            obj = await self._object(request.headers, target, target.rule)
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            _refuse_origin(err)
            _LOGGER.info("Cache: origin of %s unreachable: %r", target.host, err)
            raise web.HTTPBadGateway(text="origin unreachable") from None
        if isinstance(obj, aiohttp.ClientResponse):  # not cacheable: relayed as it is
            self.traffic.on_request(target.rule.content_class, "uncacheable")
            return await self._relay_response(request, obj)
        obj.users += 1
        obj.meta.last_used = time.time()
        try:
            return await self._serve(request, obj, target.rule)
        finally:
            obj.users -= 1
            await self._retire_if_idle(obj)

    async def _local(self, request: web.Request) -> web.StreamResponse:
        """Answer what is asked of the cache itself: the PAC file, a health check."""
        if request.path in ("/proxy.pac", "/wpad.dat"):
            # The proxy is this listener, by the address the device used to reach it.
            sockname = request.transport.get_extra_info("sockname") if request.transport else None
            address = str(sockname[0] if sockname else request.url.host)
            port = sockname[1] if sockname else request.url.port
            if ":" in address:
                address = f"[{address}]"  # an IPv6 listener
            return web.Response(
                text=self.pac(f"{address}:{port}"),
                content_type="application/x-ns-proxy-autoconfig",
            )
        if request.path == "/healthz":
            return web.Response(text="ok\n")
        raise web.HTTPNotFound(text="Préau cache: name an origin (Host or proxy form)\n")

    def pac(self, proxy: str) -> str:
        """Return a PAC file sending the cached names' plain HTTP here, the rest direct."""
        assert self.rules is not None  # noqa: S101 - async_setup ran
        tests = []
        for rule in self.rules.rules:
            if not rule.cache:
                continue
            for host in rule.hosts:
                if host.startswith("*."):
                    tests.append(f'dnsDomainIs(host, "{host[1:]}")')
                elif host != "@ip":
                    tests.append(f'host == "{host}"')
        condition = " ||\n      ".join(dict.fromkeys(tests))
        return (
            "function FindProxyForURL(url, host) {\n"
            '  if (url.substring(0, 5) == "http:" && (\n'
            f"      {condition}))\n"
            f'    return "PROXY {proxy}; DIRECT";\n'
            '  return "DIRECT";\n'
            "}\n"
        )

    async def _serve(
        self, request: web.Request, obj: CachedObject, rule: Rule
    ) -> web.StreamResponse:
        meta = obj.meta
        size = meta.length
        headers = CIMultiDict({"Accept-Ranges": "bytes", "X-Preau-Cache": "hit"})
        for name in _KEPT_RESPONSE:
            value = getattr(meta, name.lower().replace("-", "_"), "")
            if value:
                headers[name] = value
        if meta.etag and meta.etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        try:
            wanted = parse_range(request.headers.get("Range"), size)
        except RangeNotSatisfiable:
            return web.Response(status=416, headers={"Content-Range": f"bytes */{size}"})
        if_range = request.headers.get("If-Range")
        if wanted is not None and if_range and if_range not in (meta.etag, meta.last_modified):
            wanted = None
        start, end = wanted or (0, size)
        hit = obj.available(start) >= end
        self.traffic.on_request(rule.content_class, "hit" if hit else "miss")
        if not hit:
            headers["X-Preau-Cache"] = "filling"
        if wanted is not None:
            headers["Content-Range"] = content_range(start, end, size)
        response = web.StreamResponse(status=206 if wanted else 200, headers=headers)
        response.content_length = end - start
        await response.prepare(request)
        if request.method == "HEAD":
            await response.write_eof()
            return response
        source = await self.core.executor.run(_open_data, self.store.data_path(meta.digest))
        try:
            await self._send(request, obj, source, start, end, rule)
        finally:
            await self.core.executor.run(source.close)
        if rule.complete and obj.available(0) < size:
            obj.fill_everything()  # the rest of the object, for the next device
        await response.write_eof()
        return response

    async def _send(
        self,
        request: web.Request,
        obj: CachedObject,
        source: IO[bytes],
        start: int,
        end: int,
        rule: Rule,
    ) -> None:
        """Send ``[start, end)`` as it lands; cut the connection if the object fails."""
        loop = asyncio.get_running_loop()
        position = start
        while position < end:
            if obj.failed is not None:
                if request.transport is not None:
                    request.transport.abort()  # the device must see a cut, never a short file
                raise ConnectionResetError(f"cache object failed: {obj.failed}")
            reach = min(obj.available(position), end)
            if reach > position:
                transport = request.transport
                if transport is None:
                    raise ConnectionResetError("device went away")
                await loop.sendfile(transport, source, position, reach - position)
                self.traffic.on_served(rule.content_class, reach - position)
                obj.meta.served_bytes += reach - position
                position = reach
                continue
            obj.ensure_fetching(position, end)
            await obj.wait_change()

    async def _relay(self, request: web.Request, url: URL) -> web.StreamResponse:
        """Pass a request the cache does not keep to its origin and the answer back."""
        assert self._session is not None  # noqa: S101 - async_setup ran
        headers = _forwarded(request.headers)
        try:
            upstream = await self._session.request(
                request.method, url, headers=headers, allow_redirects=False
            )
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            _refuse_origin(err)
            raise web.HTTPBadGateway(text="origin unreachable") from None
        return await self._relay_response(request, upstream)

    async def _relay_response(
        self, request: web.Request, upstream: aiohttp.ClientResponse
    ) -> web.StreamResponse:
        try:
            headers = CIMultiDict(
                (name, value)
                for name, value in upstream.headers.items()
                if name.lower() not in HOP_BY_HOP
            )
            status = upstream.status
            if status == 206 and "Range" not in request.headers and _whole(upstream):
                status = 200  # the cache asked for a range; the device did not
                del headers["Content-Range"]
            response = web.StreamResponse(status=status, headers=headers)
            await response.prepare(request)
            async for data in upstream.content.iter_any():
                await response.write(data)
            await response.write_eof()
            return response
        finally:
            upstream.close()
