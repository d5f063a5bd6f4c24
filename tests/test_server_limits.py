"""The HTTP server's limits, against `inlet serve` itself (uvloop, httptools, inlet's protocol) on loopback, with
raw sockets: oversized request heads are refused while they arrive, slow and idle connections are closed, and
connections beyond the cap are answered 503 at once."""

from __future__ import annotations

import json
import select
import signal
import socket
import time
from pathlib import Path

import pytest

from tests.conftest import ServeProcess, write_config
from tests.stores import served

HEADER_TIMEOUT = 2  # seconds, the limited server's
KEEPALIVE_TIMEOUT = 1
MAX_CONNECTIONS = 5  # the capped server's


def start(directory: Path, **server) -> ServeProcess:
    return ServeProcess(write_config(directory, server=server)).start()


def stop(proc: ServeProcess) -> None:
    try:
        code = proc.stop(signal.SIGTERM)
    finally:
        if proc.proc.poll() is None:  # it did not stop in time: it must not outlive the tests
            proc.proc.kill()
    assert code == 0, proc.log.read_text()


@pytest.fixture(scope="module")
def limited(tmp_path_factory):
    proc = start(tmp_path_factory.mktemp("limited"), header_timeout=HEADER_TIMEOUT,
                 keepalive_timeout=KEEPALIVE_TIMEOUT)
    yield proc
    stop(proc)


@pytest.fixture(scope="module")
def capped(tmp_path_factory):
    proc = start(tmp_path_factory.mktemp("capped"), max_connections=MAX_CONNECTIONS, header_timeout=60,
                 keepalive_timeout=60)
    yield proc
    stop(proc)


def connect(proc: ServeProcess, timeout: float = 10) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", proc.config.server.port), timeout=timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return sock


def read_response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One response: status, headers (lower-case names), body (by Content-Length). Only its own bytes are taken
    from the socket: a pipelined response after it stays there."""
    while (end := (peeked := sock.recv(65536, socket.MSG_PEEK)).find(b"\r\n\r\n")) < 0:
        assert peeked, "connection closed before a response"
        time.sleep(0.01)  # a head still arriving: peeking again at once would spin
    status, headers, _ = parse_response(recv_exactly(sock, end + 4))
    return status, headers, recv_exactly(sock, int(headers.get("content-length", 0)))


def recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        assert chunk, f"connection closed after {len(data)} of {size} bytes"
        data += chunk
    return data


def parse_response(data: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = data.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def exchange(proc: ServeProcess, request: bytes) -> tuple[int, dict[str, str], bytes]:
    with connect(proc) as sock:
        sock.sendall(request)
        return read_response(sock)


def get(path: str, *headers: str) -> bytes:
    lines = "".join(f"{h}\r\n" for h in ("Host: test", *headers))
    return f"GET {path} HTTP/1.1\r\n{lines}\r\n".encode("latin-1")


def closed_by_server(sock: socket.socket) -> bool:
    """Whether the server closed the connection (answering nothing more, or a refusal then closing)."""
    try:
        while chunk := sock.recv(65536):
            if b"HTTP/1.1 2" in chunk:
                return False
        return True
    except ConnectionResetError:
        return True


def assert_refused(answer: tuple[int, dict[str, str], bytes], status: int, reason: str) -> dict:
    code, headers, body = answer
    assert code == status, (code, body)
    assert headers["content-type"] == "application/json"
    payload = json.loads(body)
    assert payload["error"] == reason and payload["status"] == status and payload["message"]
    return payload


def rejections(proc: ServeProcess, path: str) -> list[tuple]:
    return served(proc.config_path, "SELECT method, status, reason, size, excerpt, context FROM rejections "
                                    f"WHERE path = '{path}' ORDER BY received_at")


def peak_rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise AssertionError("no VmHWM")


def test_ordinary_requests_are_served(limited):
    status, _, body = exchange(limited, get("/healthz", "User-Agent: probe/1"))
    assert status == 200 and json.loads(body) == {"ok": True}
    payload = b'{"plan": "pro"}'
    status, _, body = exchange(limited, b"POST /collect/signup/website HTTP/1.1\r\nHost: test\r\n"
                                        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
                                        % (len(payload), payload))
    assert status == 200, body
    event_id = json.loads(body)["event_id"]
    assert served(limited.config_path, f"SELECT properties FROM events WHERE event_id = '{event_id}'") == [
        ({"plan": "pro"},)]


def test_heads_under_the_limits_are_served_whether_in_pieces_or_pipelined(limited):
    headers = [f"X-Part-{i}: {'p' * 900}" for i in range(33)]  # ~30 KB, under 32 KB
    request = get("/healthz", *headers)
    with connect(limited) as sock:
        for start in range(0, len(request), 1024):
            sock.sendall(request[start:start + 1024])
            time.sleep(0.002)
        assert read_response(sock)[0] == 200
        sock.sendall(get("/healthz") + get("/healthz", *(f"X-H{i}: v" for i in range(99))))  # 100 with Host
        assert read_response(sock)[0] == 200
        assert read_response(sock)[0] == 200


def test_a_40_kb_header_is_431_in_json_with_a_rejection_row(limited):
    secret = "s3cret" + "a" * 40_000
    with connect(limited) as sock:
        sock.sendall(get("/collect/big/website?token=t0ken", "User-Agent: probe/2", f"X-Big: {secret}"))
        answer = read_response(sock)
        assert closed_by_server(sock)
    payload = assert_refused(answer, 431, "headers_too_large")
    assert "32768" in payload["message"]
    [(method, status, reason, size, excerpt, context)] = rejections(limited, "/collect/big/website")
    assert (method, status, reason) == ("GET", 431, "headers_too_large")
    assert size > 40_000
    assert "x-big" in excerpt
    assert context["user_agent"] == "probe/2"
    assert "s3cret" not in excerpt + json.dumps(context) and "t0ken" not in excerpt + json.dumps(context)


def test_too_many_headers_is_431(limited):
    answer = exchange(limited, get("/collect/many/website", *(f"X-H{i}: v" for i in range(150))))
    assert "100" in assert_refused(answer, 431, "headers_too_large")["message"]
    assert [r[1:3] for r in rejections(limited, "/collect/many/website")] == [(431, "headers_too_large")]


def test_a_10_kb_url_is_414(limited):
    answer = exchange(limited, get("/collect/long/website?q=" + "x" * 10_000))
    assert_refused(answer, 414, "uri_too_long")
    [(method, status, reason, size, excerpt, _)] = rejections(limited, "/collect/long/website")
    assert (method, status, reason, excerpt) == ("GET", 414, "uri_too_long", "/collect/long/website")
    assert 8192 < size < 20_000


def test_a_20_mb_header_is_cut_off_without_being_taken_in(limited):
    pid = limited.proc.pid
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # the peak RSS starts again from the current RSS
    before = peak_rss_kb(pid)
    chunk = b"a" * 65536
    sent = 0
    with connect(limited, timeout=30) as sock:
        sock.sendall(b"GET /collect/huge/website HTTP/1.1\r\nHost: test\r\nX-Huge: ")
        try:
            while sent < 20 * 1024 * 1024 and not select.select([sock], [], [], 0)[0]:
                sock.sendall(chunk)
                sent += len(chunk)
            sock.sendall(b"\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server stopped listening: the answer is waiting
        answer = read_response(sock)
    assert_refused(answer, 431, "headers_too_large")
    [(_, status, _, size, _, _)] = rejections(limited, "/collect/huge/website")
    assert status == 431
    assert size < 2 * 1024 * 1024, f"the server took in {size} bytes of the head before refusing it"
    growth_kb = peak_rss_kb(pid) - before
    assert growth_kb < 8 * 1024, f"the server's peak RSS grew by {growth_kb} kB"
    assert exchange(limited, get("/healthz"))[0] == 200


def test_a_slow_head_is_answered_408_and_closed_while_others_are_served(limited):
    slow = connect(limited, timeout=0.25)
    idle = connect(limited, timeout=30)
    opened = time.monotonic()
    slow.sendall(b"GET /collect/slow/website HTTP/1.1\r\nHost: test\r\n")
    received, lines, served_meanwhile = b"", 0, False
    with slow, idle:
        while True:
            assert time.monotonic() - opened < HEADER_TIMEOUT + 10, "the slow client was never cut off"
            try:
                chunk = slow.recv(65536)
            except TimeoutError:
                try:
                    slow.sendall(f"X-Line-{lines}: 1\r\n".encode())
                    lines += 1
                except (BrokenPipeError, ConnectionResetError):
                    break
                if not served_meanwhile:
                    served_meanwhile = exchange(limited, get("/healthz"))[0] == 200
                continue
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        slow_lasted = time.monotonic() - opened
        idle.settimeout(HEADER_TIMEOUT + 10)
        idle_answer = read_response(idle)
        assert closed_by_server(idle)
    assert served_meanwhile
    assert lines >= 3
    assert slow_lasted >= HEADER_TIMEOUT - 0.1
    assert_refused(parse_response(received), 408, "request_timeout")
    assert_refused(idle_answer, 408, "request_timeout")
    [(_, status, reason, _, excerpt, _)] = rejections(limited, "/collect/slow/website")
    assert (status, reason) == (408, "request_timeout") and "x-line-0" in excerpt
    assert rejections(limited, "") == []  # the connection that sent nothing is no refused request


def test_an_idle_keep_alive_connection_is_closed_after_the_keepalive_timeout(limited):
    with connect(limited, timeout=KEEPALIVE_TIMEOUT + 10) as sock:
        sock.sendall(get("/healthz"))
        assert read_response(sock)[0] == 200
        sock.sendall(get("/healthz"))  # the connection is kept for another request
        assert read_response(sock)[0] == 200
        answered = time.monotonic()
        assert sock.recv(65536) == b""  # closed without an answer
        assert time.monotonic() - answered >= KEEPALIVE_TIMEOUT - 0.1


def test_an_events_context_keeps_a_bounded_part_of_the_headers(limited):
    headers = [f"X-Extra-{i}: {i}" for i in range(80)] + ["X-Long: " + "L" * 5000, "User-Agent: " + "U" * 3000]
    status, _, body = exchange(limited, get("/collect/ctx/website", *headers))
    assert status == 200, body
    event_id = json.loads(body)["event_id"]
    [(context,)] = served(limited.config_path, f"SELECT context FROM events WHERE event_id = '{event_id}'")
    assert context["truncated"] is True
    assert len(context["headers"]) == 50
    assert all(len(value) <= 1024 for value in context["headers"].values())
    assert context["user_agent"] == "U" * 1024
    assert len(json.dumps(context)) < 64 * 1024


def test_connections_beyond_the_cap_get_503_in_json_at_once(capped):
    held = [connect(capped) for _ in range(MAX_CONNECTIONS)]
    try:
        for sock in held:  # each answered: each is open on the server's side
            sock.sendall(get("/healthz"))
            assert read_response(sock)[0] == 200
        with connect(capped) as extra:
            extra.sendall(get("/healthz"))
            answer = read_response(extra)
            assert closed_by_server(extra)
        assert_refused(answer, 503, "too_many_connections")
        assert int(answer[1]["retry-after"]) > 0
        held.pop().close()
        deadline = time.monotonic() + 10
        while (code := exchange(capped, get("/healthz"))[0]) != 200 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert code == 200  # a place freed is taken again
        held[0].sendall(get("/healthz"))  # the held connections were not disturbed
        assert read_response(held[0])[0] == 200
    finally:
        for sock in held:
            sock.close()
