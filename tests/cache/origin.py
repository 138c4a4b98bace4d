"""A CDN origin for the cache tests and benchmark, run inside the WAN namespace.

Serves the files of ``--root`` with Range and If-Range, an ETag and a length,
and logs every body byte it sends (one JSON line per request) so a test can
count upstream traffic. Paths choose misbehaviour:

* ``/files/NAME``: a well-behaved origin;
* ``/truncate/NAME``: announces the full length, sends 60 % and closes;
* ``/nolength/NAME``: chunked, no length (not cacheable);
* ``/nostore/NAME``: ``Cache-Control: no-store``;
* ``/slowstart/NAME``: waits one second before the first byte;
* ``/norange/NAME``: ignores Range (always the whole file, 200);
* ``/debian/PATH``: an apt archive under ``ROOT/debian``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from aiohttp import web

BLOCK = 64 * 1024


def _range(header: str | None, size: int) -> tuple[int, int] | None:
    if not header or not header.startswith("bytes=") or "," in header:
        return None
    first, _, last = header[6:].partition("-")
    if first == "":
        return max(0, size - int(last)), size
    return int(first), size if last == "" else min(int(last) + 1, size)


def make_app(root: Path, log: Path) -> web.Application:
    """Return the origin's application."""

    async def handle(request: web.Request) -> web.StreamResponse:
        mode, _, name = request.path.strip("/").partition("/")
        path = root / name
        if mode == "debian":  # an apt archive: dists/ and pool/ under ROOT/debian
            path = root / "debian" / name
            if ".." in name.split("/") or not path.is_file():
                raise web.HTTPNotFound
        elif mode not in {"files", "truncate", "nolength", "nostore", "slowstart", "norange"}:
            raise web.HTTPNotFound
        elif not path.is_file() or "/" in name:
            raise web.HTTPNotFound
        size = path.stat().st_size
        etag = f'"{path.stat().st_mtime_ns:x}-{size:x}"'
        wanted = (
            _range(request.headers.get("Range"), size)
            if mode not in ("nolength", "norange")
            else None
        )
        if_range = request.headers.get("If-Range")
        if if_range is not None and if_range != etag:
            wanted = None
        start, end = wanted or (0, size)
        headers = {"ETag": etag, "Accept-Ranges": "bytes", "Content-Type": "application/x-test"}
        if mode == "nostore":
            headers["Cache-Control"] = "no-store"
        response = web.StreamResponse(status=206 if wanted else 200, headers=headers)
        if wanted:
            response.headers["Content-Range"] = f"bytes {start}-{end - 1}/{size}"
        if mode != "nolength":
            response.content_length = end - start
        stop = end if mode != "truncate" else start + (end - start) * 6 // 10
        sent = 0
        began = time.time()
        try:
            await response.prepare(request)
            if request.method == "HEAD":
                return response
            if mode == "slowstart":
                await asyncio.sleep(1.0)
            with path.open("rb") as source:
                source.seek(start)
                while start + sent < stop:
                    block = source.read(min(BLOCK, stop - start - sent))
                    await response.write(block)
                    sent += len(block)
            if mode == "truncate":
                assert request.transport is not None
                request.transport.abort()
                return response
            await response.write_eof()
            return response
        finally:
            record = {
                "path": request.path,
                "range": request.headers.get("Range", ""),
                "status": response.status,
                "sent": sent,
                "began": began,
                "ended": time.time(),
                "user_agent": request.headers.get("User-Agent", ""),
            }
            with log.open("a") as out:
                out.write(json.dumps(record) + "\n")

    seen = log.with_name(log.name + ".seen")

    @web.middleware
    async def record_every_request(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        # Every request that reached this server, answered or not, with its credentials:
        # the SSRF tests check that nothing (and no cookie) ever arrives.
        with seen.open("a") as out:
            out.write(json.dumps({
                "method": request.method,
                "path": request.path_qs,
                "cookie": request.headers.get("Cookie", ""),
                "authorization": request.headers.get("Authorization", ""),
            }) + "\n")  # fmt: skip
        return await handler(request)

    app = web.Application(middlewares=[record_every_request])
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", type=Path, required=True)
    parser.add_argument("--log", type=Path, required=True)
    parser.add_argument("--host", default="0.0.0.0")
    parser.add_argument("--port", type=int, default=80)
    parser.add_argument("--tls-cert", type=Path, help="also serve HTTPS on 443 with this")
    parser.add_argument("--tls-key", type=Path)
    args = parser.parse_args()
    asyncio.run(_serve(args))


async def _serve(args: argparse.Namespace) -> None:
    runner = web.AppRunner(make_app(args.root, args.log))
    await runner.setup()
    await web.TCPSite(runner, args.host, args.port).start()
    if args.tls_cert:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(args.tls_cert, args.tls_key)
        await web.TCPSite(runner, args.host, 443, ssl_context=context).start()
    await asyncio.Event().wait()


if __name__ == "__main__":
    main()
