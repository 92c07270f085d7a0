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
    """The run index (refreshed at most every 5 s unless cleared after a change)."""
    return run_store().list()


def runs_changed() -> None:
    """Call after renaming or deleting a run, or when a job finished."""
    runs_table.clear()
