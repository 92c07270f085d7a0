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


def wait_healthy(url: str, proc: subprocess.Popen, timeout_s: float = 240) -> None:
    """Block until ``url``'s health endpoint answers; raise if the server exits or times out."""
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with code {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"streamlit did not become healthy at {url} in {timeout_s} s")


def start_server(log_path: Path, env: dict[str, str] | None = None,
                 address: str | None = "127.0.0.1") -> tuple[subprocess.Popen, str]:
    """The dashboard (``python -m components.serve``, as ``make run`` starts it) on a free loopback port.

    Returns the process and its URL once healthy.

    Output goes to ``log_path``; ``env`` adds to the current environment (e.g. KGML_HOME);
    ``address=None`` leaves the listening address to ``.streamlit/config.toml``.
    """
    port = free_port()
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "components.serve", "--server.port", str(port),
         *(["--server.address", address] if address else []), "--server.headless", "true"],
        cwd=REPO, env={**os.environ, **(env or {})}, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc)
    except RuntimeError:
        stop_server(proc)
        raise
    return proc, url


def stop_server(proc: subprocess.Popen) -> None:
    """Terminate the server (kill it if it does not stop within 15 s)."""
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=15)
