"""The dashboard under load: concurrent browser sessions, a raw WebSocket client, memory and model loads.

Serves ``glasswing dashboard`` on 127.0.0.1 and, for ``--minutes``:

* ``--sessions`` Chromium pages (one browser context each, like separate users)
  loop over Playground and Explain of the default app, timing each page from
  navigation to its rendered result (the prediction metric; the attribution image);
* one WebSocket client speaks Streamlit's own protocol (``/_stcore/stream``):
  it asks for a Playground run again and again and times each to ``script_finished``,
  counting exceptions the server sends;
* the server's memory (its whole process tree, RSS) is sampled every 5 s;
* its log is read for model loads (``core._load_bundle`` writes one line each)
  and tracebacks;
* bad uploads go straight to the upload endpoint: malformed multipart bodies,
  one over the server's size limit, an unknown session; each must get an HTTP
  error with a short message, not a stack trace.

Usage: ``python bench/load.py --sessions 4 --minutes 10 [--markdown FILE]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from apps.sysinfo import cpu_name  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
MAX_UPLOAD_MB = 5


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(port: int, models_dir: str, log: Path) -> subprocess.Popen:
    """``glasswing dashboard`` on 127.0.0.1:port, its output in ``log``; returns once healthy."""
    proc = subprocess.Popen(
        [
            sys.executable,
            *("-m", "apps.cli", "dashboard", "--port", str(port), "--address", "127.0.0.1"),
            *("--models-dir", str(Path(models_dir).resolve())),
        ],
        cwd=ROOT,
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 180
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read() == b"ok":
                    return proc
        except OSError:
            time.sleep(0.5)
    proc.kill()
    raise SystemExit(f"the dashboard did not answer on port {port}; see {log}")


def tree_rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, MB."""
    import psutil

    root = psutil.Process(pid)
    procs = [root, *root.children(recursive=True)]
    total = 0
    for p in procs:
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total / 2**20


async def sample_memory(pid: int, until: float, samples: list[tuple[float, float]]) -> None:
    start = time.time()
    while time.time() < until:
        samples.append((time.time() - start, tree_rss_mb(pid)))
        await asyncio.sleep(5)


# ----- browser sessions -----


async def _settled(page, seconds: float = 300) -> None:
    """Until no script run has been going for 1.5 s."""
    deadline, quiet = time.time() + seconds, 0
    while quiet < 3:
        if time.time() > deadline:
            raise TimeoutError("the page kept running")
        running = await page.get_by_test_id("stStatusWidget").count() > 0
        quiet = 0 if running else quiet + 1
        await page.wait_for_timeout(500)


async def timed_visit(page, url: str, ready) -> float:
    """Seconds from navigation to ``ready`` (a locator) being visible."""
    start = time.perf_counter()
    await page.goto(url)
    await ready.first.wait_for(state="visible", timeout=300_000)
    return time.perf_counter() - start


async def browser_session(browser, base: str, until: float, timings: dict, errors: list) -> None:
    """One user: Playground, then Explain, again and again until ``until``."""
    context = await browser.new_context(viewport={"width": 1400, "height": 1000})
    page = await context.new_page()
    try:
        while time.time() < until:
            seconds = await timed_visit(page, f"{base}/playground", page.get_by_test_id("stMetric"))
            timings["playground"].append(seconds)
            # The explanation is the page's second image (the first is the input itself).
            seconds = await timed_visit(page, f"{base}/explain", page.get_by_test_id("stImage").nth(1))
            timings["explain"].append(seconds)
            await _settled(page)
            shown = await page.get_by_test_id("stException").count()
            if shown:
                errors.append(f"{shown} exception(s) on a page")
    except Exception as err:  # a session that breaks is a finding, not a crash of the bench
        errors.append(f"session: {type(err).__name__}: {err}")
    finally:
        await context.close()


# ----- a raw WebSocket client -----


def _rerun(page_name: str) -> bytes:
    from streamlit.proto.BackMsg_pb2 import BackMsg
    from streamlit.proto.ClientState_pb2 import ClientState

    msg = BackMsg()
    msg.rerun_script.CopyFrom(ClientState(query_string="", page_name=page_name))
    return msg.SerializeToString()


async def websocket_client(port: int, until: float, timings: list, errors: list) -> None:
    """Reruns Playground over Streamlit's own WebSocket protocol; times each run to ``script_finished``."""
    import websockets
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    try:
        async with websockets.connect(
            f"ws://127.0.0.1:{port}/_stcore/stream", subprotocols=["streamlit"], max_size=2**26
        ) as ws:
            while time.time() < until:
                start = time.perf_counter()
                await ws.send(_rerun("playground"))
                while True:
                    msg = ForwardMsg()
                    msg.ParseFromString(await asyncio.wait_for(ws.recv(), timeout=300))
                    kind = msg.WhichOneof("type")
                    if kind == "delta" and msg.delta.new_element.WhichOneof("type") == "exception":
                        errors.append(f"websocket: {msg.delta.new_element.exception.message}")
                    if kind == "script_finished":
                        break
                timings.append(time.perf_counter() - start)
                await asyncio.sleep(1)
    except Exception as err:
        errors.append(f"websocket: {type(err).__name__}: {err}")


# ----- bad uploads -----


async def _live_session(port: int) -> tuple[str, str, object]:
    """(session id, XSRF cookie, open WebSocket) of a real session, as a browser would hold them."""
    import websockets
    from streamlit.proto.ForwardMsg_pb2 import ForwardMsg

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=30) as r:  # sets it
        cookie = next(
            (c.split(";")[0].split("=", 1)[1] for c in r.headers.get_all("Set-Cookie") or [] if "xsrf" in c),
            "",
        )
    ws = await websockets.connect(
        f"ws://127.0.0.1:{port}/_stcore/stream",
        subprotocols=["streamlit"],
        additional_headers={"Cookie": f"_streamlit_xsrf={cookie}"},
        max_size=2**26,
    )
    await ws.send(_rerun(""))
    while True:
        msg = ForwardMsg()
        msg.ParseFromString(await asyncio.wait_for(ws.recv(), timeout=300))
        if msg.WhichOneof("type") == "new_session":
            return msg.new_session.initialize.session_id, cookie, ws


def _put(url: str, body: bytes, headers: dict) -> tuple[int, str]:
    if len(body) > MAX_UPLOAD_MB * 2**20:
        return _put_announced(url, len(body), headers)
    request = urllib.request.Request(url, data=body, method="PUT", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=60) as r:
            return r.status, r.read().decode(errors="replace")
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode(errors="replace")
    except OSError as err:
        return 0, f"connection: {err}"


def _put_announced(url: str, size: int, headers: dict) -> tuple[int, str]:
    """A PUT that announces ``size`` bytes and waits for the answer before sending them.

    The server answers an oversized Content-Length at once and closes the
    connection; a client still pushing the body would only see the reset.
    """
    import http.client
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=60)
    try:
        conn.putrequest("PUT", parts.path)
        for key, value in {**headers, "Content-Length": str(size)}.items():
            conn.putheader(key, value)
        conn.endheaders()
        answer = conn.getresponse()
        return answer.status, answer.read().decode(errors="replace")
    finally:
        conn.close()


async def bad_uploads(port: int) -> list[tuple[str, int, str]]:
    """(case, HTTP status, first line of the answer) for malformed and oversized uploads of a live session."""
    session, cookie, ws = await _live_session(port)
    boundary = "glasswingboundary"
    part = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="x.png"\r\n'
        "Content-Type: image/png\r\n\r\n"
    ).encode()
    end = f"\r\n--{boundary}--\r\n".encode()
    multipart = "multipart/form-data; boundary=" + boundary
    cases = {
        "a well-formed 1 KB upload (control)": (part + b"0" * 1024 + end, multipart, session),
        "not a multipart body": (b"not multipart at all", multipart, session),
        "multipart cut before its end": (part + b"\x89PNG", multipart, session),
        "multipart without a boundary": (part + end, "multipart/form-data", session),
        "JSON instead of multipart": (b"{}", "application/json", session),
        f"over the {MAX_UPLOAD_MB} MB limit": (
            part + b"0" * ((MAX_UPLOAD_MB + 1) * 2**20) + end,
            multipart,
            session,
        ),
        "an unknown session": (part + b"0" + end, multipart, str(uuid.uuid4())),
    }
    headers = {"X-Xsrftoken": cookie, "Cookie": f"_streamlit_xsrf={cookie}"}
    rows = []
    for name, (body, content_type, sid) in cases.items():
        url = f"http://127.0.0.1:{port}/_stcore/upload_file/{sid}/{uuid.uuid4()}"
        status, text = await asyncio.to_thread(_put, url, body, {**headers, "Content-Type": content_type})
        rows.append((name, status, (text.strip().splitlines() or [""])[0][:120]))
    await ws.close()
    return rows


# ----- the run -----


def _pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def load(port: int, pid: int, sessions: int, minutes: float) -> dict:
    from playwright.async_api import async_playwright

    until = time.time() + minutes * 60
    timings = {"playground": [], "explain": [], "websocket": []}
    errors: list[str] = []
    memory: list[tuple[float, float]] = []
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        base = f"http://127.0.0.1:{port}"
        await asyncio.gather(
            sample_memory(pid, until, memory),
            websocket_client(port, until, timings["websocket"], errors),
            *(browser_session(browser, base, until, timings, errors) for _ in range(sessions)),
        )
        await browser.close()
    return {"timings": timings, "errors": errors, "memory": memory}


def report(args, result: dict, uploads, log_text: str) -> str:
    timings, memory = result["timings"], result["memory"]
    loads = re.findall(r"glasswing dashboard: loaded (\S+) from", log_text)
    tracebacks = log_text.count("Traceback (most recent call last)")
    mb = [m for _, m in memory]
    first_minute = [m for t, m in memory if 60 <= t < 120] or mb[:1]
    last_minute = [m for t, m in memory if t >= memory[-1][0] - 60] if memory else []
    lines = [
        "### Dashboard: latency, memory and bad uploads",
        "",
        f"Measured {time.strftime('%Y-%m-%d')} by `python bench/load.py --sessions {args.sessions} "
        f"--minutes {args.minutes:g}` on {cpu_name()} ({os.cpu_count()} cores): "
        f"{args.sessions} Chromium sessions "
        "(one browser context each) loop Playground -> Explain on the default app, beside one raw "
        "WebSocket client rerunning Playground over `/_stcore/stream`; the server is `glasswing dashboard` "
        "on 127.0.0.1 with the committed models.",
        "",
        "| what | runs | p50 s | p95 s | max s |",
        "|---|---|---|---|---|",
    ]
    names = {
        "playground": "Playground: navigation to the rendered prediction",
        "explain": "Explain: navigation to the rendered attribution map",
        "websocket": "WebSocket client: rerun to script_finished",
    }
    for key, label in names.items():
        values = timings[key]
        lines.append(
            f"| {label} | {len(values)} | {_pct(values, 0.5):.2f} | {_pct(values, 0.95):.2f} | "
            f"{max(values, default=float('nan')):.2f} |"
        )
    lines += [
        "",
        f"Server memory (process tree RSS): {mb[0]:.0f} MB at start, "
        f"{statistics.mean(first_minute):.0f} MB in minute 2, {statistics.mean(last_minute):.0f} MB "
        f"in the last minute, peak {max(mb):.0f} MB ({len(mb)} samples, every 5 s)."
        if mb
        else "Server memory: no samples.",
        f"Model loads in the server log: {len(loads)} ({', '.join(sorted(set(loads))) or 'none'}); "
        f"each model is loaded once per process: {'yes' if len(loads) == len(set(loads)) else 'NO'}. "
        f"Tracebacks in the server log: {tracebacks}. Errors seen by clients: {len(result['errors'])}"
        + (f" (first: {result['errors'][0]})" if result["errors"] else "")
        + ".",
        "",
        "Bad uploads sent straight to the upload endpoint:",
        "",
        "| upload | HTTP status | answer |",
        "|---|---|---|",
        *(f"| {name} | {status} | {text.replace('|', '/')} |" for name, status, text in uploads),
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=4)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--models-dir", default="models", help="the models the dashboard serves")
    parser.add_argument("--markdown", default=None, help="also write the section to this file")
    args = parser.parse_args(argv)
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        proc = serve(port, args.models_dir, log)
        try:
            uploads = asyncio.run(bad_uploads(port))
            result = asyncio.run(load(port, proc.pid, args.sessions, args.minutes))
        finally:
            os.killpg(proc.pid, 15)
            proc.wait(timeout=30)
        text = report(args, result, uploads, log.read_text(errors="replace"))
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
