"""Relay one guest connection (stdin/stdout, from QEMU's guestfwd ``cmd:``) to a loopback port.

QEMU's user network runs this once per connection the guest opens to a
forwarded address, so a box under ``restrict=on`` reaches a server the test
started on the host's loopback, and nothing else.
"""

from __future__ import annotations

import os
import selectors
import socket
import sys


def main() -> None:
    """Copy bytes both ways until either side closes."""
    upstream = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    selector = selectors.DefaultSelector()
    selector.register(0, selectors.EVENT_READ, "guest")
    selector.register(upstream, selectors.EVENT_READ, "server")
    while True:
        for key, _ in selector.select():
            if key.data == "guest":
                data = os.read(0, 65536)
                if not data:
                    upstream.shutdown(socket.SHUT_WR)
                    selector.unregister(0)
                    continue
                upstream.sendall(data)
            else:
                data = upstream.recv(65536)
                if not data:
                    return
                os.write(1, data)


if __name__ == "__main__":
    main()
