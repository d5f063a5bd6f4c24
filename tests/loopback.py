"""Loopback servers for the transport tests: one that answers from a script, and one that hands its first
connection to a function (the one that never answers is conftest's `silent_server`)."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable


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
