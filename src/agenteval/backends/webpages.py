"""Pages a research-mode scenario ships, served to the agent's ``WebFetch`` with no network.

The agent runtime fetches through ``HTTPS_PROXY``: this is that proxy, on 127.0.0.1, for one item. For
``CONNECT host:443`` it answers as the host itself (TLS with a certificate for the host, signed by a CA made
for the run and handed to the runtime in ``NODE_EXTRA_CA_CERTS``), then serves ``GET`` of a URL the scenario
ships (``pages: {URL: FILE}``) with that file, and anything else with 404 naming the URL: nothing leaves the
machine. Plain ``http://`` requests through the proxy are answered the same way. Every URL asked for is
logged (:attr:`PageProxy.requests`).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import ssl
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

MAX_HEADER_BYTES = 64 * 1024


def _norm(url: str) -> str:
    u = urlsplit(url)
    path = u.path or "/"
    return f"{u.scheme}://{u.hostname}{path}" + (f"?{u.query}" if u.query else "")


class PageProxy:
    """A loopback HTTP(S) proxy serving a fixed set of pages (see the module doc)."""

    def __init__(self, pages: Mapping[str, Path], workdir: Path) -> None:
        self.pages = {_norm(u): Path(p) for u, p in pages.items()}
        self.workdir = workdir
        self.requests: list[str] = []
        self._server: asyncio.AbstractServer | None = None
        self._ctx: dict[str, ssl.SSLContext] = {}
        self.port = 0
        self.ca_path = workdir / "agenteval-pages-ca.pem"
        self._ca_key: Any = None
        self._ca_cert: Any = None

    # ------------------------------------------------------------------ certificates
    def _make_ca(self) -> None:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "agenteval scenario pages CA (one item)")])
        now = dt.datetime.now(dt.UTC)
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                             content_commitment=False, key_encipherment=False,
                                             data_encipherment=False, key_agreement=False, encipher_only=False,
                                             decipher_only=False), critical=True)
                .sign(key, hashes.SHA256()))
        self._ca_key, self._ca_cert = key, cert
        self.ca_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    def _context_for(self, host: str) -> ssl.SSLContext:
        ctx = self._ctx.get(host)
        if ctx is not None:
            return ctx
        import ipaddress

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        now = dt.datetime.now(dt.UTC)
        try:
            san: Any = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            san = x509.DNSName(host)
        cert = (x509.CertificateBuilder()
                .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)]))
                .issuer_name(self._ca_cert.subject).public_key(key.public_key())
                .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
                .not_valid_after(now + dt.timedelta(days=1))
                .add_extension(x509.SubjectAlternativeName([san]), critical=False)
                .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
                .sign(self._ca_key, hashes.SHA256()))
        with tempfile.NamedTemporaryFile("wb", dir=self.workdir, suffix=".pem", delete=False) as fh:
            fh.write(cert.public_bytes(serialization.Encoding.PEM))
            fh.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
            pem = fh.name
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(pem)
        Path(pem).unlink(missing_ok=True)
        self._ctx[host] = ctx
        return ctx

    # ------------------------------------------------------------------ serving
    async def start(self) -> None:
        """Listen on 127.0.0.1 (a free port)."""
        self._make_ca()
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    def env(self) -> dict[str, str]:
        """Environment for the runtime: the proxy, the CA; loopback goes direct (the API fake lives there)."""
        url = f"http://127.0.0.1:{self.port}"
        return {"HTTPS_PROXY": url, "HTTP_PROXY": url, "https_proxy": url, "http_proxy": url,
                "NO_PROXY": "127.0.0.1,localhost,::1", "no_proxy": "127.0.0.1,localhost,::1",
                "NODE_EXTRA_CA_CERTS": str(self.ca_path)}

    @staticmethod
    async def _head(reader: asyncio.StreamReader) -> list[str] | None:
        try:
            raw = await reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            return None
        if len(raw) > MAX_HEADER_BYTES:
            return None
        return raw.decode("latin-1").split("\r\n")

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await self._head(reader)
            if not head or len(head[0].split(" ")) < 3:
                return
            method, target, _ = head[0].split(" ", 2)
            if method == "CONNECT":
                host = target.rsplit(":", 1)[0].strip("[]")
                writer.write(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                await writer.drain()
                await writer.start_tls(self._context_for(host))
                while True:
                    inner = await self._head(reader)
                    if not inner or len(inner[0].split(" ")) < 3:
                        return
                    m, path, _ = inner[0].split(" ", 2)
                    await self._skip_body(reader, inner)
                    await self._answer(writer, m, f"https://{host}{path}")
            else:
                await self._skip_body(reader, head)
                await self._answer(writer, method, target)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError, OSError):
            return
        finally:
            with contextlib.suppress(Exception):
                writer.close()

    @staticmethod
    async def _skip_body(reader: asyncio.StreamReader, head: list[str]) -> None:
        for line in head[1:]:
            if line.lower().startswith("content-length:"):
                n = int(line.split(":", 1)[1].strip() or 0)
                if 0 < n <= 1024 * 1024:
                    await reader.readexactly(n)

    async def _answer(self, writer: asyncio.StreamWriter, method: str, url: str) -> None:
        self.requests.append(url)
        f = self.pages.get(_norm(url))
        if f is not None and method in ("GET", "HEAD"):
            body = f.read_bytes()
            ctype = "text/html; charset=utf-8" if f.suffix in (".html", ".htm") else (
                "text/markdown; charset=utf-8" if f.suffix == ".md" else "text/plain; charset=utf-8")
            status = "200 OK"
        else:
            body = f"agenteval: no page shipped for {url} (the agent has no network)\n".encode()
            ctype, status = "text/plain; charset=utf-8", "404 Not Found"
        head = (f"HTTP/1.1 {status}\r\ncontent-type: {ctype}\r\ncontent-length: {len(body)}\r\n"
                f"connection: keep-alive\r\n\r\n").encode()
        writer.write(head + (b"" if method == "HEAD" else body))
        await writer.drain()
