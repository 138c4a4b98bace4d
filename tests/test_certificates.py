"""Certificates made for the tests are complete (RFC 5280), as strict clients want.

Python 3.13 verifies with ``VERIFY_X509_STRICT`` by default, and phones
verify strictly too: a CA without key identifiers failed every HTTPS test on
Debian 13 (issue #11). This checks the same on every Python.
"""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
import threading

from tests.conftest import SchoolCA


def test_the_test_ca_passes_strict_verification(test_ca: SchoolCA) -> None:
    openssl = shutil.which("openssl") or "/usr/bin/openssl"
    checked = subprocess.run(
        [openssl, "verify", "-x509_strict", "-CAfile", str(test_ca.ca_cert),
         str(test_ca.server_cert)],
        capture_output=True, text=True, check=False, timeout=30,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_a_strict_python_client_accepts_the_test_server(test_ca: SchoolCA) -> None:
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_context.load_cert_chain(test_ca.server_cert, test_ca.server_key)
    client_context = ssl.create_default_context(cafile=str(test_ca.ca_cert))
    client_context.verify_flags |= ssl.VERIFY_X509_STRICT  # Python 3.13's default
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)

        def serve() -> None:
            connection, _ = listener.accept()
            try:
                with server_context.wrap_socket(connection, server_side=True) as tls:
                    tls.sendall(b"ok")
            except (ssl.SSLError, OSError):
                pass

        thread = threading.Thread(target=serve)
        thread.start()
        with socket.create_connection(listener.getsockname(), timeout=10) as raw:
            with client_context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
                assert tls.recv(2) == b"ok"
        thread.join(10)
