"""Browser: the cases of the hardening issue, tried as an attacker and as a careless second user would.

One server for the module, started as ``make run`` starts it (``components.serve``,
address from ``.streamlit/config.toml``), with its own store, one shared data root
and a 400 MB memory budget per load; a tiny job left queued by a dead server is in
the store before it starts.
"""
from __future__ import annotations

import json
import os
import re
import threading
import time
import zipfile
from urllib.parse import urlparse

import psutil
import pytest

from kgml_core import jobs, settings
from kgml_core.runs import RunStore
from tests.browser.server import start_server, stop_server

NASTY = "**[Login](https:e.co)** ![](//127.0.0.1:9)"
WORD_JOINER = "\u2060"
# Toasts vanish after 4 s, sooner than a test on a busy machine may look: the page records each one's text.
RECORD_TOASTS = """
window.__toasts = [];
const seen = new WeakMap();
setInterval(() => {
  document.querySelectorAll("[data-testid='stToast']").forEach((el) => {
    if (!seen.has(el)) { seen.set(el, window.__toasts.length); window.__toasts.push(""); }
    const text = el.innerText.replaceAll("\u2060", "");
    if (text) window.__toasts[seen.get(el)] = text;
  });
}, 50);
"""
PROBES = ["/etc/passwd", "/proc/self/environ", "/dev/zero", "/etc", "/no/such/file", "../outside.csv",
          "{root}/../outside.csv", "{root}/passwd.csv", "{root}/zero.csv", "{root}/escape/passwd"]


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    base = tmp_path_factory.mktemp("hardening")
    root = base / "shared"
    root.mkdir()
    (root / "passwd.csv").symlink_to("/etc/passwd")
    (root / "zero.csv").symlink_to("/dev/zero")
    (root / "escape").symlink_to("/etc")
    (base / "outside.csv").write_text("TIMESTAMP,NEE\n20010101,1\n")
    home = base / "home"
    store = RunStore(home / "runs")
    _queued_tiny_job(store)
    _ended_job(store, NASTY)
    tmp = base / "tmp"  # the server's own temporary folder: uploads of other servers on the machine are not its
    tmp.mkdir()
    return {"base": base, "root": root, "home": home, "store": store, "tmp": tmp}


def _queued_tiny_job(store: RunStore) -> None:
    """A tiny state-vs-global job left queued by a server that died (its pid no longer exists)."""
    job = jobs.Job("job-1-1-aaaa", "state_vs_global", "left queued tiny IA", {"states": ["IA"]}, "tiny",
                   submitted=time.time() - 60, pid=2**22 + 4321)
    folder = store.root / jobs.JOBS_FOLDER
    folder.mkdir(exist_ok=True)
    jobs.write_json_atomic(folder / f"{job.id}.json", job.record())


def _ended_job(store: RunStore, name: str) -> None:
    job = jobs.Job("job-2-2-bbbb", "state_vs_global", name, {}, "tiny", status="failed",
                   submitted=time.time() - 120, started=time.time() - 110, ended=time.time() - 100,
                   error="FileNotFoundError: [Errno 2] No such file: '/srv/kgml/runs/x/log.txt'", pid=2**22 + 4322)
    jobs.write_json_atomic(store.root / jobs.JOBS_FOLDER / f"{job.id}.json", job.record())


@pytest.fixture(scope="module")
def server(env):
    log_path = env["base"] / "streamlit.log"
    # the simulated worlds come from this session's cache (content-addressed, written atomically): a repeated
    # run of the module does not simulate Iowa again; trained stages are still not reused (KGML_STAGE_CACHE_MB=0)
    proc, url = start_server(log_path, env={"KGML_HOME": str(env["home"]), "KGML_DATA_ROOTS": str(env["root"]),
                                            "KGML_LOAD_MEMORY_MB": "400", "KGML_JOB_WORKERS": "1",
                                            "TMPDIR": str(env["tmp"]), "KGML_CACHE_DIR": str(settings.cache_dir())},
                             address=None)
    try:
        yield {"proc": proc, "url": url, "log": log_path, **env}
    finally:
        stop_server(proc)


def _goto(page, url: str, title: str):
    page.set_default_timeout(120000)  # a shared machine may run at a load of 20 and more
    page.goto(url, wait_until="domcontentloaded", timeout=120000)
    page.get_by_role("heading", name=title).wait_for(timeout=120000)


def _idle(page) -> None:
    """Wait until no script run of the page is in progress (a fragment may start the next one soon after)."""
    page.locator("[data-testid='stApp'][data-test-script-state='notRunning']").wait_for(timeout=120000)


def _toasts(page, timeout_s: float = 120) -> list[str]:
    """The texts of every toast the page has shown (:data:`RECORD_TOASTS`), once there is at least one."""
    page.wait_for_function("window.__toasts && window.__toasts.some((t) => t)", timeout=timeout_s * 1000)
    return [t for t in page.evaluate("window.__toasts") if t]


def _shown(locator) -> str:
    return locator.inner_text().replace(WORD_JOINER, "")


def test_listens_on_localhost_and_resumes_queued_jobs_at_start(server):
    """No page has been opened yet: the server binds to 127.0.0.1 and already runs the job left queued."""
    addresses = {c.laddr.ip for c in psutil.Process(server["proc"].pid).net_connections("inet")
                 if c.status == psutil.CONN_LISTEN}
    assert addresses and addresses <= {"127.0.0.1"}
    record = server["store"].root / jobs.JOBS_FOLDER / "job-1-1-aaaa.json"
    deadline = time.time() + 300  # the queue's thread starts with the server; at a load of 30 it may take a while
    while json.loads(record.read_text())["status"] == "queued" and time.time() < deadline:
        time.sleep(0.5)
    assert json.loads(record.read_text())["status"] in ("running", "finished")
    assert json.loads(record.read_text())["pid"] == server["proc"].pid


def test_jobs_panel_follows_a_job_to_the_end_without_errors(server, page):
    """The job resumed at start trains while this page redraws its loss chart every second."""
    _goto(page, f"{server['url']}/train", "Train models")
    page.get_by_text("left queued tiny IA").first.wait_for(timeout=120000)
    page.get_by_text(re.compile(r"finished: run ")).first.wait_for(timeout=900000)
    log = server["log"].read_text()
    # the former race, and any error a page or job logged (a browser closing a socket is not one)
    assert "Length of values" not in log and not re.search(r"ERROR kgml", log)
    assert "watchdog" not in log.lower() and "inotify" not in log.lower()


def test_server_path_probes_reveal_nothing(server, page):
    _goto(page, f"{server['url']}/data", "Data")
    box = page.get_by_role("textbox", name="Folder or file on the server")
    messages, text = [], ""
    for probe in PROBES:
        typed = probe.format(root=server["root"])
        box.fill(typed)
        box.press("Enter")
        page.get_by_role("button", name="Load folder").click()
        text = _new_error(page, os.path.basename(typed), text)
        messages.append(text.rsplit(": ", 1)[-1].strip())  # the message without what was typed
        assert "inside the folders this server shares" in text, (probe, text)
        for leak in ("root:", "Errno", "Traceback", "exist", str(server["root"]), "Is a directory"):
            assert leak not in text, (probe, text)
    assert len(set(messages)) == 1  # an existing and a missing path outside the roots read the same
    assert server["proc"].poll() is None and psutil.Process(server["proc"].pid).memory_info().rss < 4 * 2**30


def _new_error(page, name: str, previous: str) -> str:
    """The text of the error shown for the path ending in ``name``: the first that names it and differs from
    ``previous`` (the error of the path before stays on the page until this click's run replaces it)."""
    page.wait_for_function("""([name, previous]) => {
        const alerts = document.querySelectorAll("[data-testid='stAlertContentError']");
        const text = alerts.length ? alerts[alerts.length - 1].innerText.replaceAll("\u2060", "") : "";
        return text.includes(name) && text !== previous;
    }""", arg=[name, previous], timeout=120000)
    return _shown(page.locator("[data-testid='stAlertContentError']").last)


def test_two_users_and_the_same_run(server, browser):
    store = server["store"]
    older, target, newest = (store.create("state_vs_global", {}, name=n) for n in ("keep me", "run X", "newest"))
    for run in (older, target, newest):
        run.finish()
        time.sleep(1.1)  # distinct creation seconds: the list's order is by creation
    busy = store.create("state_vs_global", {}, name="still running")  # this test process is alive: running
    time.sleep(5.5)  # the pages' run list is cached for 5 s
    a, b = (browser.new_context(viewport={"width": 1400, "height": 1000}) for _ in range(2))
    try:
        page_a, page_b = a.new_page(), b.new_page()
        for pg in (page_a, page_b):
            _goto(pg, f"{server['url']}/train", "Train models")
            _pick_run(pg, f"run X ({target.id})", target.id)
        page_b.get_by_role("button", name="Delete", exact=True).click()
        page_b.get_by_role("button", name="Yes, delete it").click()
        page_b.get_by_text(f"Deleted run {target.id}").wait_for(timeout=120000)
        # A still sees run X picked and clicks Delete, then confirms: nothing else may go
        page_a.get_by_role("button", name="Delete", exact=True).click()
        page_a.get_by_text(re.compile(f"Delete run .*{target.id}")).wait_for(timeout=120000)
        page_a.get_by_role("button", name="Yes, delete it").click()
        page_a.get_by_text(re.compile(f"Run {target.id} no longer exists")).wait_for(timeout=120000)
        assert {r for r in store.list()["run_id"]} >= {older.id, newest.id, busy.id}
        _pick_run(page_a, f"still running ({busy.id})", busy.id)
        page_a.get_by_role("button", name="Delete", exact=True).click()
        page_a.get_by_role("button", name="Yes, delete it").click()
        page_a.get_by_text(re.compile("still running: cancel its job first")).wait_for(timeout=120000)
        assert busy.path.is_dir()
        page_a.screenshot(path=str(_artifacts() / "hardening_delete_race.png"), full_page=True)
    finally:
        busy.finish()
        a.close()
        b.close()


def _pick_run(page, label: str, run_id: str) -> None:
    """Pick a run in the Runs panel's select box by typing its label, and wait until the server has the pick.

    The Delete button carries the id of the run picked when the page was last drawn, so the
    pick has reached the server once Delete asks about ``run_id``; "Keep it" then closes the
    question. On a busy machine a click may still act on the page drawn before the pick:
    then the question names another run, and the pick is confirmed again.
    """
    select = page.locator("div[data-testid='stSelectbox']").filter(has_text="Run").last
    field = page.get_by_role("combobox", name="Run", exact=True)
    question = page.get_by_text(re.compile(r"Delete run .* and all its files\?")).first
    deadline = time.time() + 300
    while time.time() < deadline:
        if field.input_value() != label:
            select.locator("input").click()
            select.locator("input").fill(label)
            page.keyboard.press("Enter")
            page.wait_for_timeout(500)
            continue
        page.get_by_role("button", name="Delete", exact=True).click()
        question.wait_for(timeout=120000)
        asked = _shown(question)
        page.get_by_role("button", name="Keep it").click()
        question.wait_for(state="detached", timeout=120000)
        if run_id in asked:
            return
    raise AssertionError(f"the Runs panel did not take the pick {label!r} in 300 s")


def test_markdown_in_names_and_links_stays_text(server, page):
    page.add_init_script(RECORD_TOASTS)
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    page.set_default_timeout(120000)
    server["store"].create("state_vs_global", {}, name=NASTY).finish()
    time.sleep(5.5)  # the pages' run list is cached for 5 s
    _goto(page, f"{server['url']}/train", "Train models")
    card = page.get_by_text(re.compile(r"\*\*\[Login\]")).first
    card.wait_for(timeout=120000)
    assert NASTY in _shown(card)
    page.get_by_text(re.compile(r"failed: .*log\.txt")).first.wait_for(timeout=120000)
    assert "/srv/kgml" not in page.locator("body").inner_text()  # no server path in messages
    page.goto(f"{server['url']}/map?states=IA&counties=[Login](https:e.co)", wait_until="domcontentloaded", timeout=120000)
    try:
        toasts = _toasts(page)
    finally:
        page.screenshot(path=str(_artifacts() / "hardening_url_toast.png"), full_page=True)
    assert any("[Login](https:e.co)" in t for t in toasts), toasts
    assert page.locator("a[href*='e.co'], img[src*='127.0.0.1:9']").count() == 0
    own = urlparse(server["url"]).netloc
    assert not [u for u in requests if urlparse(u).netloc not in (own, "")]  # nothing fetched elsewhere


def test_thousands_of_bad_url_values_give_one_message(server, page):
    """One summary toast instead of one per value (4,000 toasts froze the tab for minutes)."""
    page.add_init_script(RECORD_TOASTS)
    counties = ",".join(f"9{i:04d}" for i in range(4000))
    _goto(page, f"{server['url']}/map?states=IA&counties={counties}", "Map & selection")
    _toasts(page)  # shown before the map draws
    _idle(page)    # the page's run is over: every toast it makes has been made
    toasts = _toasts(page)
    assert toasts and all("Ignored 4000 value(s)" in t for t in toasts), toasts[:3]


def _amplifier(path, member_mb: int, fresh: int) -> float:
    """A zip whose one FLUXNET-named member unpacks to ``member_mb`` MB (each 32 KiB: ``fresh`` new bytes)."""
    import numpy as np

    rng = np.random.default_rng(0)
    row = b"200001010000,200001010030,1.2345,250.1,12.5\n"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        with zf.open("FLX_US-Amp_FLUXNET2015_FULLSET_HH_2000-2001_1-4.csv", "w", force_zip64=True) as fh:
            fh.write(b"TIMESTAMP_START,TIMESTAMP_END,NEE_VUT_REF,SW_IN_F,TA_F\n")
            for _ in range(member_mb * 32):
                fh.write("".join(map(str, rng.integers(0, 10, fresh))).encode() + b"\n"
                         + row * ((32768 - fresh) // len(row)))
    info = zipfile.ZipFile(path).infolist()[0]
    return info.file_size / info.compress_size


@pytest.mark.parametrize("member_mb, fresh, refusal", [
    (402, 220, r"compressed 1\d\d times"),          # the 2.8 MB zip with a 402 MB member
    (150, 900, r"needs about 600 MB of memory"),    # inside the ratio cap, beyond the memory budget
])
def test_amplifier_zip_leaves_memory_alone(server, page, member_mb, fresh, refusal):
    path = server["base"] / f"amplifier-{member_mb}.zip"
    ratio = _amplifier(path, member_mb, fresh)
    assert path.stat().st_size < 8 * 2**20 and ratio > 30
    proc = psutil.Process(server["proc"].pid)
    _goto(page, f"{server['url']}/data", "Data")
    _idle(page)  # the page's own first run is not counted as the upload's memory
    before, peak, stop = proc.memory_info().rss, [0], threading.Event()

    def sample():
        while not stop.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(path))
        alert = page.locator("[data-testid='stAlertContentError']").first
        alert.wait_for(timeout=120000)
        assert re.search(refusal, _shown(alert)), _shown(alert)
    finally:
        stop.set()
        sampler.join()
    assert peak[0] - before < 150 * 2**20, f"server grew {(peak[0] - before) / 2**20:.0f} MB"
    uploads = [f for d in server["tmp"].glob("kgml-upload-*") for f in d.iterdir()]
    assert not any(f.name.startswith("amplifier") for f in uploads)  # nothing left on disk


def _artifacts():
    from tests.conftest import ARTIFACTS
    path = ARTIFACTS / "screenshots"
    path.mkdir(parents=True, exist_ok=True)
    return path
