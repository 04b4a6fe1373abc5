"""Issue 23, items 10, 11, 12 and 14: the dashboard's wire, replayed live against real dashboard servers
(`hpcbridge serve --transport http`) over HTTP on the test cluster.

- a carriage return in job output (every tqdm bar) or in a job name must not cut the server-sent events;
- a request body is capped before it is read (a 300 MB login, a chunked one);
- a bad query, path or form value answers 400 naming the parameter, never 500;
- the session cookie can be Secure (behind a TLS proxy) and carries the port, so two dashboards on one host do
  not clobber each other's sessions (a browser keeps cookies per host and name, whatever the port).
"""

from __future__ import annotations

import html
import re
import secrets
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, urlsplit

import httpx
import pytest
from fastmcp import Client
from fastmcp.client.transports import StreamableHttpTransport

from ..e2e.conftest import HTTP_TOKEN, call, server_env, start_http_server, stop_and_read_log

pytestmark = pytest.mark.timeout(300)
MB = 1024 * 1024
LINE_END = re.compile(r"\r\n|\r|\n")
LAST_PROGRESS = "100%|##########| 100/100"


@dataclass(frozen=True)
class Dashboard:
    base: str
    port: int
    pid: int

    @property
    def cookie(self) -> str:
        return f"hpcbridge_session_{self.port}"


def _start(tc_env: dict[str, str], home: Path, **extra: str) -> tuple[subprocess.Popen[bytes], Dashboard]:
    env = server_env(tc_env, HPCBRIDGE_HTTP_TOKEN=HTTP_TOKEN, HPCBRIDGE_STATE_DIR=str(home), **extra)
    proc, url = start_http_server(env)
    base = url.removesuffix("/mcp")
    return proc, Dashboard(base, int(urlsplit(base).port or 0), proc.pid)


@pytest.fixture(scope="module")
def dashboards(tc_env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Dashboard, Dashboard]]:
    """Two dashboards on one host: a plain one and one configured for a TLS proxy (Secure cookie)."""
    plain_proc, plain = _start(tc_env, tmp_path_factory.mktemp("plain"))
    secure_proc, secure = _start(tc_env, tmp_path_factory.mktemp("secure"), HPCBRIDGE_DASHBOARD_COOKIE_SECURE="true")
    yield plain, secure
    for proc in (plain_proc, secure_proc):
        log = stop_and_read_log(proc)
        assert "Traceback" not in log, log[-3000:]


@pytest.fixture(scope="module")
def dashboard(dashboards: tuple[Dashboard, Dashboard]) -> Dashboard:
    return dashboards[0]


def _log_in(base: str) -> tuple[str, str, httpx.Headers]:
    """POST /login as a browser would; the cookie's name and value, and the raw response headers."""
    answer = httpx.post(f"{base}/login", data={"token": HTTP_TOKEN}, follow_redirects=False, timeout=30)
    assert answer.status_code == 303, answer.text
    name, _, rest = answer.headers["set-cookie"].partition("=")
    return name, rest.split(";", 1)[0], answer.headers


@pytest.fixture(scope="module")
def session(dashboard: Dashboard) -> Iterator[httpx.Client]:
    """A logged-in client of the plain dashboard, with its CSRF token as a header."""
    name, value, _ = _log_in(dashboard.base)
    with httpx.Client(base_url=dashboard.base, cookies={name: value}, timeout=60) as client:
        page = client.get("/logbook", headers={"Accept": "text/html"})
        csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
        assert csrf, page.text[:2000]
        client.headers["X-CSRF-Token"] = csrf.group(1)
        yield client


@pytest.fixture(scope="module")
async def agent(dashboard: Dashboard) -> AsyncIterator[Client]:
    async with Client(StreamableHttpTransport(dashboard.base + "/mcp", auth=HTTP_TOKEN), timeout=120) as client:
        yield client


def _as_alice(command: str) -> str:
    return subprocess.run(["su", "-", "alice", "-c", command], capture_output=True, text=True, timeout=60,
                          check=True).stdout.strip()


def _first_update(client: httpx.Client, path: str, until: str = "") -> tuple[list[str], str]:
    """The raw lines of the first `update` event (whose payload holds `until`) and its payload reassembled
    as an EventSource does (lines end at CRLF, CR or LF; the data fields joined with LF)."""
    with client.stream("GET", path, headers={"Accept": "text/event-stream"}) as response:
        assert response.status_code == 200
        raw = ""
        for chunk in response.iter_text():
            raw += chunk
            while "\n\n" in raw:
                event, raw = raw.split("\n\n", 1)
                lines = event.split("\n")  # the server's own line end; a CR inside a line is the attack
                fields = [LINE_END.split(line) for line in lines]
                data = [part[len("data:"):].removeprefix(" ") for parts in fields for part in parts
                        if part.startswith("data:")]
                if "event: update" in lines and until in "\n".join(data):
                    return lines, "\n".join(data)
    raise AssertionError(f"no update event with {until!r} from {path}")


async def test_carriage_returns_in_output_and_names_do_not_cut_the_live_stream(
        session: httpx.Client, agent: Client) -> None:
    tag = secrets.token_hex(3)
    # tqdm's way: each state rewrites the line after a bare CR; the last one ends with LF
    script = ("echo epoch 1; for i in 10 20 30 40 50 60 70 80 90 100; do "
              "printf '\\r%3d%%|%s| %d/100' $i $(printf '#%.0s' $(seq 1 $((i / 10)))) $i; done; echo; "
              f"echo done_{tag}")
    job = await call(agent, "submit_job", script_content=script, job_name=f"tqdm_{tag}")
    # a name with a CR, as anyone may submit it with sbatch (hpcbridge's own submit_job refuses it)
    held = _as_alice(f"sbatch --parsable -H -p cpu -J $'cr_{tag}\\rtail_{tag}' --wrap 'sleep 60'").split(";")[0]
    try:
        await call(agent, "wait_for_job", job_id=job["job_id"], until="final", timeout=120)
        lines, payload = _first_update(session, f"/events/tail/default/{job['job_id']}?stream=stdout", f"done_{tag}")
        assert not any("\r" in line for line in lines), lines  # the SSE rule: no CR inside a field
        text = html.unescape(re.sub(r"<[^>]+>", "", payload))
        shown = text.strip("\n").split("\n")
        assert shown == ["epoch 1", LAST_PROGRESS, f"done_{tag}"], shown  # as a terminal shows it
        assert payload.rstrip().endswith("</pre>")

        lines, payload = _first_update(session, "/events/board", f'data-job="{held}"')
        assert not any("\r" in line for line in lines), lines
        assert f"cr_{tag}\ntail_{tag}" in payload  # the CR came through as a line end, nothing after it lost
        assert payload.count("<section") == payload.count("</section>") > 0
    finally:
        _as_alice(f"scancel {held}")


async def test_the_browser_tail_shows_the_last_progress_state(dashboard: Dashboard, agent: Client) -> None:
    playwright_api = pytest.importorskip("playwright.async_api", reason="pip install -e '.[test]' brings playwright")
    tag = secrets.token_hex(3)
    script = ("for i in 25 50 75 100; do printf '\\r%3d%%|##########| %d/100' $i $i; done; echo; "
              f"echo end_{tag}; sleep 120")
    job = await call(agent, "submit_job", script_content=script, job_name=f"bar_{tag}")
    try:
        await call(agent, "wait_for_job", job_id=job["job_id"], until="running", timeout=90)
        async with playwright_api.async_playwright() as p:
            chromium = await p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            tab = await chromium.new_page()
            await tab.goto(dashboard.base + "/login")
            await tab.fill("input[name=token]", HTTP_TOKEN)
            await tab.click("button:has-text('Log in')")
            await tab.goto(f"{dashboard.base}/job/default/{job['job_id']}")
            tail = tab.locator("#tail")
            await playwright_api.expect(tail).to_have_attribute("data-updated", re.compile(r"\d+"), timeout=30_000)
            await playwright_api.expect(tail.locator("pre")).to_contain_text(f"end_{tag}", timeout=30_000)
            shown = (await tail.locator("pre").inner_text()).strip().split("\n")
            await chromium.close()
        assert shown[-2:] == [LAST_PROGRESS, f"end_{tag}"], shown
    finally:
        await call(agent, "cancel_job", job_id=job["job_id"])


def _peak_memory_kb(pid: int) -> int:
    status = Path(f"/proc/{pid}/status").read_text()
    return int(re.search(r"VmHWM:\s+(\d+) kB", status).group(1))  # type: ignore[union-attr]


def _post_raw(dashboard: Dashboard, head: str, chunks: Iterator[bytes]) -> tuple[bytes, int]:
    """A POST written by hand, its body pulled from a generator: the answer read after each piece, so a
    server that answers before the body is in is seen doing so. Returns the status line and bytes sent."""
    sock = socket.create_connection(("127.0.0.1", dashboard.port), timeout=60)
    sent = 0
    try:
        sock.sendall(head.encode())
        sock.setblocking(False)
        for chunk in chunks:
            try:
                answer = sock.recv(4096)
                if answer:
                    return answer.split(b"\r\n", 1)[0], sent
            except BlockingIOError:
                pass
            sock.setblocking(True)
            try:
                sock.sendall(chunk)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break  # the server stopped listening: its answer is waiting
            sent += len(chunk)
            sock.setblocking(False)
        sock.setblocking(True)
        return sock.recv(4096).split(b"\r\n", 1)[0], sent
    finally:
        sock.close()


def _megabytes(count: int, framing: bool = False) -> Iterator[bytes]:
    """`count` form fields of a megabyte each: each under Starlette's own 1 MB field limit, which alone would
    stop one long field but not many."""
    piece = b"f=" + b"x" * (MB - 3) + b"&"
    for _ in range(count):
        yield b"%x\r\n%s\r\n" % (len(piece), piece) if framing else piece
    if framing:
        yield b"0\r\n\r\n"


def test_a_300_mb_login_is_refused_before_it_is_read(dashboard: Dashboard) -> None:
    before = _peak_memory_kb(dashboard.pid)
    head = (f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{dashboard.port}\r\n"
            f"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {300 * MB}\r\n\r\n")
    status, sent = _post_raw(dashboard, head, _megabytes(300))
    assert status.startswith(b"HTTP/1.1 413"), status
    assert sent < 300 * MB  # answered before the body was in
    assert _peak_memory_kb(dashboard.pid) - before < 32 * 1024  # the review saw +310 MB


def test_a_chunked_login_is_cut_at_the_cap(dashboard: Dashboard) -> None:
    head = (f"POST /login HTTP/1.1\r\nHost: 127.0.0.1:{dashboard.port}\r\n"
            "Content-Type: application/x-www-form-urlencoded\r\nTransfer-Encoding: chunked\r\n\r\n")
    status, sent = _post_raw(dashboard, head, _megabytes(300, framing=True))
    assert status.startswith(b"HTTP/1.1 413"), status
    assert sent < 300 * MB


def test_every_dashboard_post_caps_its_body(session: httpx.Client) -> None:
    big = {"project": "p", "kind": "note", "title": "t", "body": "x" * MB}
    for path in ("/logbook", "/job/default/1/cancel", "/logout"):  # logout last: it would end the session
        answer = session.post(path, data=big)
        assert answer.status_code == 413, (path, answer.status_code)
        assert "too large" in answer.text


BAD_INPUTS = [  # (path, parameter named in the answer)
    ("/history?text=a%00b", "text"),
    ("/history?text=" + "x" * 5000, "text"),
    (f"/history?offset={10 ** 30}", "offset"),
    ("/history?offset=-1", "offset"),
    ("/history?offset=abc", "offset"),
    ("/history?user=a%00", "user"),
    ("/history?partition=a%00", "partition"),
    ("/history?since=a%00", "since"),
    ("/history?state=RUNNING%00", "state"),
    ("/history?cluster=a%00", "cluster"),
    ("/compute?gpus=1&hours=inf", "hours"),
    ("/compute?gpus=1&hours=nan", "hours"),
    ("/compute?gpus=1&hours=-2", "hours"),
    ("/compute?gpus=1&hours=1e308", "hours"),
    (f"/compute?gpus={10 ** 30}", "gpus"),
    ("/compute?gpus=two", "gpus"),
    ("/compute?days=5", "days"),
    ("/compute?gpus=1&gpu_type=a%00", "gpu_type"),
    (f"/logbook/{10 ** 30}", "entry_id"),
    ("/logbook?text=a%00", "text"),
    ("/logbook?project=a%00", "project"),
    ("/run/a%00b", "name"),
    ("/run/" + "r" * 5000, "name"),
    ("/run/ok?cluster=a%00", "cluster"),
    ("/job/default/1%00", "job_id"),
    ("/events/tail/default/1?stream=stdin", "stream"),
]


@pytest.mark.parametrize(("path", "parameter"), BAD_INPUTS, ids=[p for p, _ in BAD_INPUTS])
def test_a_bad_input_answers_400_naming_the_parameter(session: httpx.Client, path: str, parameter: str) -> None:
    answer = session.get(path, headers={"Accept": "text/html"})
    assert answer.status_code == 400, (answer.status_code, answer.text[-500:])
    assert f"invalid {parameter}" in html.unescape(answer.text)


@pytest.mark.parametrize("field", ["title", "project", "body", "kind"])
def test_a_bad_logbook_form_field_answers_400(session: httpx.Client, field: str) -> None:
    form = {"project": "p", "kind": "note", "title": "t", "body": "b", field: "a\x00b"}
    answer = session.post("/logbook", data=form, headers={"Accept": "text/html"}, follow_redirects=False)
    assert answer.status_code == 400, (answer.status_code, answer.text[-500:])
    assert f"invalid {field}" in html.unescape(answer.text)


def test_the_cookie_carries_the_port_and_is_secure_when_configured(
        dashboards: tuple[Dashboard, Dashboard]) -> None:
    plain, secure = dashboards
    name, _, headers = _log_in(plain.base)
    assert name == plain.cookie
    assert "secure" not in headers["set-cookie"].lower()  # plain HTTP: a Secure cookie would never come back
    name, _, headers = _log_in(secure.base)
    attributes = [a.strip().lower() for a in headers["set-cookie"].split(";")]
    assert name == secure.cookie
    assert {"secure", "httponly", "samesite=strict", "path=/"} <= set(attributes), attributes


def test_two_dashboards_on_one_host_keep_their_own_sessions(dashboards: tuple[Dashboard, Dashboard]) -> None:
    a, b = dashboards
    jar: dict[str, str] = {}  # a browser's cookies for 127.0.0.1: one per name, whatever the port
    for board in (a, b):
        name, value, _ = _log_in(board.base)
        jar[name] = value
    cookie = "; ".join(f"{k}={v}" for k, v in jar.items())
    for board in (a, b):  # logging in to b did not log a out
        answer = httpx.get(board.base + "/", headers={"Cookie": cookie, "Accept": "text/html"}, timeout=60)
        assert answer.status_code == 200, (board.port, answer.status_code)
    stolen = f"{b.cookie}={jar[a.cookie]}"  # a's session offered to b
    answer = httpx.get(b.base + "/", headers={"Cookie": stolen, "Accept": "text/html"}, timeout=60)
    assert answer.status_code == 303 and answer.headers["location"] == "/login"


def test_the_entry_id_path_is_still_served(session: httpx.Client) -> None:
    """The bounds do not refuse ordinary values (a test that the 400s above are not everything refused)."""
    made = session.post("/logbook", data={"project": "sec", "kind": "note", "title": "wire", "body": "ok"},
                        follow_redirects=False)
    assert made.status_code == 303, made.text[-500:]
    entry = session.get(made.headers["location"], headers={"Accept": "text/html"})
    assert entry.status_code == 200 and "wire" in entry.text
    assert session.get("/history?offset=50&text=wire").status_code == 200
    assert session.get(f"/compute?gpus=1&hours=2&days=14&gpu_type={quote('a100')}").status_code == 200
