"""Process-wide shared objects for every session: the run store and the job queue."""
from __future__ import annotations

import streamlit as st

from kgml_core.jobs import JobQueue
from kgml_core.runs import RunStore


@st.cache_resource
def job_queue() -> JobQueue:
    """One queue per server process, shared by all browser sessions (never mutated by pages)."""
    return JobQueue(RunStore())


def run_store() -> RunStore:
    """The run store the job queue writes into."""
    return job_queue().store


@st.cache_data(ttl=5, show_spinner=False)
def runs_table():
    """The run index (refreshed at most every 5 s unless cleared after a change), with a ``data`` column
    saying what each run ran on ("real data" or "simulated world"), so every page labels real-data runs."""
    from kgml_core.experiments import data_source

    table = run_store().list()
    if not table.empty and "kind" in table:
        table.insert(min(3, len(table.columns)), "data", table["kind"].map(data_source))
    return table


def runs_changed() -> None:
    """Call after renaming or deleting a run, or when a job finished."""
    runs_table.clear()
