"""Start the dashboard server: the job queue first, then Streamlit (``python -m components.serve``).

Jobs left queued by an earlier server resume as soon as the server starts, not
when someone first opens a page: the queue (``runtime.job_queue``, a process-wide
resource) is created here, before Streamlit serves anything, and the pages find
it already running. Then the libraries every page imports and the state and county
geometry are loaded once (:func:`warm_up`), so the first visitor, even one opening a
deep link on a freshly started server, is not kept on a blank page while they load.
Arguments are passed to ``streamlit run app.py``; the server address, port and file
watcher come from ``.streamlit/config.toml`` unless given.
"""
from __future__ import annotations

import gc
import importlib
import logging
import sys
import time

from components import runtime
from kgml_core.settings import REPO_ROOT

log = logging.getLogger("kgml_app")


# What the pages import at their top; loading them here is process-wide (sys.modules). Not
# streamlit_folium: it declares its component on import, which must happen once the runtime exists.
PAGE_LIBRARIES = ("numpy", "pandas", "xarray", "plotly.graph_objects", "folium",
                  "components.charts", "components.choropleth", "components.data_session", "components.maps",
                  "kgml_core.export", "kgml_core.report", "kgml_core.experiments")


def warm_up() -> float:
    """Import the pages' libraries and load the state and county geometry; seconds taken.

    A failure here only costs the first visitor the wait: it is logged, never raised.
    """
    t0 = time.perf_counter()
    try:
        for name in PAGE_LIBRARIES:
            importlib.import_module(name)
        from kgml_core import geo
        geo.county_table(None)
        geo.load_states(None)
    except Exception:  # noqa: BLE001  (the server starts anyway)
        log.exception("warm-up failed; the first page visit will load what it needs")
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> None:
    """Restore the job queue, then run ``streamlit run app.py ARGV`` in this process."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    queue = runtime.job_queue()
    waiting = sum(1 for job in queue.jobs() if job.status in ("queued", "running"))
    log.info("job queue started with %d job(s) to run", waiting)
    log.info("page libraries and geometry loaded in %.1f s", warm_up())
    # Streamlit runs a full garbage collection after every script run (runner.postScriptGC); over
    # the ~370,000 objects of the loaded libraries that took 0.9-1.0 s of every rerun at load 20.
    # They live as long as the server: moved out of the collector's reach, a collection takes µs.
    gc.freeze()
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(REPO_ROOT / "app.py"), *(sys.argv[1:] if argv is None else argv)]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
