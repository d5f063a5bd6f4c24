"""Loopback servers for the kit client's network tests: one that answers from a script, one that hands its first
connection to a function, one that echoes each request as JSON (plain or TLS), a forward proxy, and a port whose
connects never complete (the one that never answers is conftest's `silent_server`)."""

from __future__ import annotations

import contextlib
import json
import socket
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class ScriptedServer:
    """A loopback HTTP/1.1 server whose every connection answers with the next of `answers`: raw bytes to send
    after reading one request, a 1-tuple of bytes to send before closing the connection, or None to close it
    without answering. Counts connections."""

    def __init__(self, answers: list[bytes | tuple[bytes] | None]) -> None:
        self.answers = list(answers)
        self.connections = 0
        self.requests: list[bytes] = []
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen()
        self.url = f"http://127.0.0.1:{self._server.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            buffered = b""
            while self.answers:
                while b"\r\n\r\n" not in buffered:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return
                    buffered += chunk
                head, _, buffered = buffered.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(buffered) < length:
                    buffered += conn.recv(65536)
                self.requests.append(head + b"\r\n\r\n" + buffered[:length])
                buffered = buffered[length:]
                answer = self.answers.pop(0)
                if answer is None:
                    return
                if isinstance(answer, tuple):  # (bytes,): send them, then close
                    conn.sendall(answer[0])
                    return
                conn.sendall(answer)

    def close(self) -> None:
        self._server.close()


def ok(body: bytes, *headers: str) -> bytes:
    extra = "".join(f"{h}\r\n" for h in headers)
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


def one_connection(serve: Callable[[socket.socket], None]) -> tuple[str, socket.socket]:
    """A loopback server that hands its first connection to `serve` on a thread: its URL, and its socket to close."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()

    def accept() -> None:
        conn, _ = server.accept()
        with conn:
            serve(conn)

    threading.Thread(target=accept, daemon=True).start()
    return f"http://127.0.0.1:{server.getsockname()[1]}", server


class _Echo(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _EchoServer

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0)).decode()
        seen = {"method": self.command, "path": self.path, "body": body, "auth": self.headers.get("Authorization"),
                "user_agent": self.headers.get("User-Agent"), "port": self.client_address[1]}
        self.server.seen.append(seen)
        out = json.dumps(seen).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = _answer

    def log_message(self, *args: object) -> None:
        pass


class _EchoServer(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[dict]


class EchoServer:
    """A loopback HTTP/1.1 server answering every request with what it saw, as JSON: method, path (with the query),
    body, Authorization, User-Agent and the client's port (one port per connection). Over TLS when given the
    server's side of a context (a trustme certificate); `host` is then the name its certificate was issued for."""

    def __init__(self, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1") -> None:
        self._server = _EchoServer(("127.0.0.1", 0), _Echo)
        self._server.seen = []
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self.port = self._server.server_address[1]
        self.url = f"{'https' if tls else 'http'}://{host}:{self.port}"
        self.seen = self._server.seen
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class _Forward(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _ProxyServer

    def do_GET(self) -> None:  # a plain-HTTP URL asked of a proxy comes whole: answer it here
        self.server.seen.append(f"GET {self.path}")
        out = json.dumps({"via": "proxy", "url": self.path}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    def do_CONNECT(self) -> None:  # https: a tunnel to the host and port asked for, bytes copied both ways
        self.server.seen.append(f"CONNECT {self.path}")
        host, _, port = self.path.rpartition(":")
        upstream = socket.create_connection((host, int(port)), timeout=10)
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = True
        copier = threading.Thread(target=_copy, args=(upstream, self.connection), daemon=True)
        copier.start()
        _copy(self.connection, upstream)
        copier.join(10)
        upstream.close()

    def log_message(self, *args: object) -> None:
        pass


class _ProxyServer(ThreadingHTTPServer):
    daemon_threads = True
    seen: list[str]


def _copy(source: socket.socket, sink: socket.socket) -> None:
    try:
        while data := source.recv(65536):
            sink.sendall(data)
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass


class Proxy:
    """A loopback forward proxy: a request for a plain-HTTP URL it answers itself (`{"via": "proxy", "url": ...}`),
    a CONNECT (https) it tunnels to the host asked for. `seen` holds each request line's method and target."""

    def __init__(self) -> None:
        self._server = _ProxyServer(("127.0.0.1", 0), _Forward)
        self._server.seen = []
        self.seen = self._server.seen
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class FullBacklog:
    """A loopback port whose listen queue is full and never served: a new connection's SYN goes unanswered, so
    connecting waits until the client's connect timeout."""

    def __init__(self) -> None:
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(0)
        port = self._server.getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        self._held: list[socket.socket] = []
        for _ in range(4):  # a backlog of 0 still queues one or two: fill it
            held = socket.socket()
            held.setblocking(False)
            with contextlib.suppress(BlockingIOError):
                held.connect(("127.0.0.1", port))
            self._held.append(held)

    def close(self) -> None:
        for held in self._held:
            held.close()
        self._server.close()
