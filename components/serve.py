"""Start the dashboard server: the job queue first, then Streamlit (``python -m components.serve``).

Jobs left queued by an earlier server resume as soon as the server starts, not
when someone first opens a page: the queue (``runtime.job_queue``, a process-wide
resource) is created here, before Streamlit serves anything, and the pages find
it already running. Arguments are passed to ``streamlit run app.py``; the server
address, port and file watcher come from ``.streamlit/config.toml`` unless given.
"""
from __future__ import annotations

import logging
import sys

from components import runtime
from kgml_core.settings import REPO_ROOT

log = logging.getLogger("kgml_app")


def main(argv: list[str] | None = None) -> None:
    """Restore the job queue, then run ``streamlit run app.py ARGV`` in this process."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    queue = runtime.job_queue()
    waiting = sum(1 for job in queue.jobs() if job.status in ("queued", "running"))
    log.info("job queue started with %d job(s) to run", waiting)
    from streamlit.web import cli

    sys.argv = ["streamlit", "run", str(REPO_ROOT / "app.py"), *(sys.argv[1:] if argv is None else argv)]
    cli.main(prog_name="streamlit")


if __name__ == "__main__":
    main()
