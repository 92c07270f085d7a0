"""Start and stop a real dashboard server on loopback (browser tests, soak and page benchmarks)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def free_port() -> int:
    """A free TCP port on 127.0.0.1."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class ServerExited(RuntimeError):
    """The server process ended before it answered (e.g. another process took its port first)."""


def listens_on(proc: subprocess.Popen, port: int) -> bool:
    """True when ``proc`` itself listens on TCP ``port`` (not some other server on the machine)."""
    import psutil
    try:
        return any(c.laddr.port == port and c.status == psutil.CONN_LISTEN
                   for c in psutil.Process(proc.pid).net_connections("inet"))
    except psutil.Error:
        return False


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 240) -> None:
    """Block until ``url``'s health endpoint answers from ``proc``; raise if the server exits or times out."""
    port = int(url.rsplit(":", 1)[1])
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise ServerExited(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200 and listens_on(proc, port):
                    return
        except OSError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"streamlit did not become healthy at {url} in {timeout_s} s")


def start_server(log_path: Path, env: dict[str, str] | None = None,
                 address: str | None = "127.0.0.1") -> tuple[subprocess.Popen, str]:
    """The dashboard (``python -m components.serve``, as ``make run`` starts it) on a free loopback port.

    Returns the process and its URL once healthy.

    Output goes to ``log_path``; ``env`` adds to the current environment (e.g. KGML_HOME);
    ``address=None`` leaves the listening address to ``.streamlit/config.toml``.
    The free port is only free when asked: when another process takes it before the
    server binds it, the server exits and is started again on another port.
    """
    for attempt in range(3):
        port = free_port()
        with open(log_path, "w") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "components.serve", "--server.port", str(port),
                 *(["--server.address", address] if address else []), "--server.headless", "true"],
                cwd=REPO, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_healthy(url, proc)
            return proc, url
        except ServerExited:
            stop_server(proc)
            if attempt == 2:
                raise
        except RuntimeError:
            stop_server(proc)
            raise
    raise AssertionError("unreachable")


def stop_server(proc: subprocess.Popen) -> None:
    """Terminate the server (kill it if it does not stop within 15 s)."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)
