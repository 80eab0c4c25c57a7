"""A canary for SSRF tests: sockets that record every connection, and a redirecting server.

:class:`Canary` listens on one port of 127.0.0.1 and ::1 and records every connection
it accepts. It also stands in for the event loop's ``sock_connect`` (through which
aiohttp opens every connection), recording every attempt and refusing any that
would leave this machine, so that a failing test sends nothing to a private or
metadata address. :class:`FixedResolver` is the DNS. :class:`Redirector` answers
``/r/<n>`` with a 302 whose raw ``Location`` header is the n-th of its targets, as UTF-8
bytes, unvalidated.
"""

from __future__ import annotations

import asyncio
import errno
import ipaddress
import socket
from types import TracebackType
from typing import Any

from aiohttp.abc import AbstractResolver, ResolveResult


class FixedResolver(AbstractResolver):
    """Resolves names from a dict (a stand-in DNS for tests); any string is returned as is."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table

    async def resolve(self, host: str, port: int = 0,
                      family: socket.AddressFamily = socket.AF_INET) -> list[ResolveResult]:
        if host not in self.table:
            raise OSError(f"no such host {host}")
        return [ResolveResult(hostname=host, host=ip, port=port, proto=0,
                              family=socket.AF_INET6 if ":" in ip else socket.AF_INET,
                              flags=socket.AI_NUMERICHOST) for ip in self.table[host]]

    async def close(self) -> None:
        pass


def _listen_on_both() -> list[socket.socket]:
    """A 127.0.0.1 socket and, where IPv6 works, a ::1 socket on the same port."""
    for _ in range(50):
        v4 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        v4.bind(("127.0.0.1", 0))
        v6 = None
        try:
            v6 = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            v6.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
            v6.bind(("::1", v4.getsockname()[1]))
        except OSError as exc:
            if v6 is not None:
                v6.close()
            if exc.errno == errno.EADDRINUSE:
                v4.close()
                continue
            return [v4]  # no IPv6 here: ::1 attempts are still recorded by the stand-in
        return [v4, v6]
    raise RuntimeError("no port free on both 127.0.0.1 and ::1")


class Canary:
    """Records every connection to its port and every connection attempt of the loop.

    ``open_ports`` are loopback ports attempts may reach (the test's own servers).
    """

    def __init__(self, *, open_ports: tuple[int, ...] = ()) -> None:
        self.open_ports = set(open_ports)
        self.connections: list[Any] = []
        self.attempts: list[tuple[Any, ...]] = []
        self.port = 0
        self._servers: list[asyncio.Server] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    async def __aenter__(self) -> Canary:
        sockets = _listen_on_both()
        self.port = sockets[0].getsockname()[1]
        for sock in sockets:
            self._servers.append(await asyncio.start_server(self._record, sock=sock))
        self._loop = asyncio.get_running_loop()
        original = self._loop.sock_connect

        async def sock_connect(sock: socket.socket, address: Any) -> None:
            self.attempts.append(tuple(address))
            host = ipaddress.ip_address(str(address[0]).split("%")[0])
            if not host.is_loopback:
                raise ConnectionRefusedError(errno.ECONNREFUSED, "kept on this machine")
            await original(sock, address)

        self._loop.sock_connect = sock_connect  # type: ignore[method-assign]
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        if self._loop is not None:
            del self._loop.sock_connect  # the class's own again
        for server in self._servers:
            server.close()
            await server.wait_closed()

    async def _record(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections.append(writer.get_extra_info("peername"))
        writer.close()

    def leaks(self) -> list[object]:
        """Connections the canary got, and attempts at anything but the open ports."""
        stray = [a for a in self.attempts if a[1] not in self.open_ports
                 or not ipaddress.ip_address(str(a[0]).split("%")[0]).is_loopback]
        return [*self.connections, *stray]


class Redirector:
    """A raw HTTP server on 127.0.0.1: ``/r/<n>`` redirects to ``targets[n]``, ``/ok`` is 200."""

    def __init__(self, targets: list[str]) -> None:
        self.targets = targets
        self.port = 0
        self.requests: list[str] = []
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Redirector:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while head := await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 10):
                path = head.split(b" ", 2)[1].decode()
                self.requests.append(path)
                if path.startswith("/r/"):
                    location = self.targets[int(path[3:])].encode()
                    writer.write(b"HTTP/1.1 302 Found\r\nLocation: " + location
                                 + b"\r\nContent-Length: 0\r\n\r\n")
                else:
                    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError):
            pass
        finally:
            writer.close()
