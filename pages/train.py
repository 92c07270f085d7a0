"""Train: start experiments in the background, follow their progress, manage the runs."""
from __future__ import annotations


import pandas as pd
import plotly.express as px
import streamlit as st

from components import auth, page, runtime, selection, text, theme
from kgml_core import geo
from kgml_core.experiments import EXPERIMENTS
from kgml_core.jobs import TERMINAL, QueueFull, can_resume
from kgml_core.runs import RunBusy

page.enter(__file__)

st.title("Train models")
st.caption("Jobs run in the background, one at a time per server (they queue), so this page "
           "and other users' sessions stay responsive. Finished runs appear on every page.")

def _experiment(kind: str):
    return EXPERIMENTS[kind]


@st.cache_data(show_spinner=False)
def _defaults(kind: str, preset: str) -> dict:
    """The preset's config as a dict (what the form starts from)."""
    return _experiment(kind).config(preset).to_dict()


def _setting(kind: str, setting, defaults: dict, sel) -> tuple[bool, object]:
    """Draw one of the experiment's declared settings; (whether to override, value)."""
    key, label, hint = f"{setting.key}_{kind}", setting.label, setting.help
    if setting.widget == "states":
        states = st.multiselect(label, sorted(geo.CONUS_STATES), default=sel.states, key=key, help=hint)
        return bool(states), tuple(states)
    if setting.widget == "models":
        labels = _experiment(kind).labels
        options = list(defaults[setting.key])
        return True, tuple(st.multiselect(label, options, default=options, key=key, help=hint,
                                          format_func=lambda m: f"{m}: {labels.get(m, '')}"))
    if setting.widget == "int":
        return True, int(st.number_input(label, int(setting.low), int(setting.high), int(defaults[setting.key]),
                                         key=key, help=hint))
    if setting.widget == "slider":
        return True, float(st.slider(label, setting.low, setting.high, float(defaults[setting.key]),
                                     setting.step, key=key, help=hint))
    if setting.widget == "floats":
        return True, tuple(sorted(st.multiselect(label, list(setting.options), default=list(defaults[setting.key]),
                                                 key=key, help=hint)))
    if setting.widget == "map_sites":
        towers = [s for s in sel.sites if s.startswith("VT-")]
        use = st.checkbox(f"{label} ({len(towers)} picked)", value=False, disabled=len(towers) < int(setting.low),
                          key=key, help=hint)
        return use, tuple(towers)
    raise ValueError(f"unknown widget {setting.widget!r} of setting {setting.key}")


def _form(kind: str) -> tuple[str, dict, str]:
    sel = selection.current()
    experiment = _experiment(kind)
    preset = st.selectbox("Preset", experiment.config_class.preset_names(), key=f"preset_{kind}",
                          help="quick: a few minutes on 2 CPU cores; tiny: seconds, a smoke test; "
                               "full: the article's scale (long).")
    defaults = _defaults(kind, preset)
    overrides: dict = {}
    for setting in experiment.settings:
        use, value = _setting(kind, setting, defaults, sel)
        if use:
            overrides[setting.key] = value
    name = st.text_input("Run name", "", max_chars=80, key=f"name_{kind}",
                         placeholder="kind, preset and states when left empty",
                         help="A label for the run store; you can rename it later.")
    states = "-".join(overrides.get("states", ()))
    return preset, overrides, name.strip() or f"{kind} {preset} {states}".strip()


def _submit_panel() -> None:
    kind = st.radio("Experiment", list(EXPERIMENTS), format_func=lambda k: EXPERIMENTS[k].title, key="train_kind",
                    help="What to train. Both report held-out metrics and save predictions.")
    with st.form(f"train_form_{kind}", border=True):
        preset, overrides, name = _form(kind)
        if st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:"):
            try:
                job = runtime.job_queue().submit(kind, preset, overrides, name=name, owner=auth.owner_id())
                st.session_state.setdefault("my_jobs", []).append(job.id)
                st.toast(text.fmt("Queued {}", job.name), icon=":material/schedule:")
            except QueueFull as err:
                st.warning(text.fmt("Not queued: {}", err), icon=":material/hourglass_top:")
            except Exception as err:
                theme.show_error("Could not start the job", err)


def _loss_figure(history: tuple[dict, ...]):
    frame = pd.DataFrame(history)
    value_cols = [c for c in frame.columns if c not in ("t", "stage", "epoch")]
    long = frame.melt(id_vars=["t", "stage"], value_vars=value_cols, var_name="loss").dropna()
    fig = px.line(long, x="t", y="value", color="loss", log_y=True, height=260,
                  labels={"t": "time since start (s)", "value": "loss (standardised, log scale)"})
    fig.update_layout(margin=dict(l=10, r=10, t=10, b=10), legend=dict(orientation="h"))
    return fig


def _job_card(job) -> None:
    q = runtime.job_queue()
    with st.container(border=True):
        head, button = st.columns([5, 1])
        head.markdown(text.fmt("**{}** · {} · {} s", job.name, job.status, f"{job.seconds:.0f}"))
        if job.status in ("queued", "running") and auth.may_manage(job.owner):
            button.button("Cancel", key=f"cancel_{job.id}", help="Stop this job at its next step (asks first).",
                          on_click=_ask, args=("confirm_cancel", job.id))
            if st.session_state.get("confirm_cancel") == job.id:
                _confirm_cancel(job)
        if job.status == "queued":
            st.caption(f"waiting: {q.position(job.id)} job(s) ahead")
        for note in job.notes:
            st.caption(text.fmt("{}", note), help="Trained before from the same settings, data, seed and code: "
                       "loaded from the stage store instead of trained again.")
        event = job.last
        if job.status == "running" and event is not None:
            st.progress(event.fraction, text=f"{event.stage} · epoch {event.epoch}/{event.n_epochs}"
                        + (f" · step {event.step}/{event.n_steps}" if event.n_steps else ""))
            if event.losses:
                st.caption(" · ".join(f"{k} {v:.4g}" for k, v in event.losses.items()))
        if job.status == "finished":
            st.progress(1.0, text=f"finished: run {job.run_id}")
        if job.status == "failed":
            first = (job.error or "").strip().splitlines()
            st.error(text.fmt("failed: {}", text.redact_paths(first[0]) if first else "unknown error"))
        if job.status == "interrupted":
            _interrupted(job)
        history = job.history  # an immutable snapshot: training publishes a new one at every event
        if history and job.status == "running":
            st.plotly_chart(_loss_figure(history), key=f"loss_{job.id}_{len(history)}")


def _interrupted(job) -> None:
    """An interrupted job (the server stopped while it ran): say so and offer to resume it."""
    resumable = can_resume(job.kind)
    st.warning(text.fmt("interrupted: the server stopped while this job ran{}",
                        f" (run {job.run_id})" if job.run_id else ""), icon=":material/warning:")
    if job.resumed_by:
        st.caption(text.fmt("resumed as job {}", job.resumed_by))
        return
    label = "Resume" if resumable and job.run_id else "Restart"
    hint = ("Continue from the run's last completed stage." if label == "Resume"
            else "This experiment cannot continue a run: it starts again from scratch.")
    if st.button(label, key=f"resume_{job.id}", icon=":material/replay:", help=hint):
        try:
            new = runtime.job_queue().resume(job.id, owner=auth.owner_id())
            st.session_state.setdefault("my_jobs", []).append(new.id)
            st.toast(text.fmt("Queued {} again ({})", job.name, label.lower()), icon=":material/schedule:")
        except ValueError as err:
            theme.show_error(f"Could not {label.lower()} the job", err)


@st.fragment(run_every=1.0)
def _jobs_panel() -> None:
    jobs = runtime.job_queue().jobs()
    if not jobs:
        st.info("No jobs yet in this server. Start one on the left.")
        return
    for job in jobs[:8]:
        _job_card(job)
    ended = {j.id for j in jobs if j.status in TERMINAL}
    if ended - st.session_state.get("seen_ended", set()):
        st.session_state["seen_ended"] = ended
        runtime.runs_changed()


def _ask(key: str, item_id: str) -> None:
    """Button callback: remember which job or run (by id, as shown when clicked) awaits confirmation."""
    st.session_state[key] = item_id


def _confirm_cancel(job) -> None:
    st.warning(text.fmt("Cancel job {} ({})? It stops at its next step.", job.name, job.id),
               icon=":material/help:")
    yes, no = st.columns(2)
    yes.button("Yes, cancel it", key=f"cancel_yes_{job.id}", on_click=_cancel, args=(job.id,))
    no.button("Keep it running", key=f"cancel_no_{job.id}", on_click=_ask, args=("confirm_cancel", ""))


def _cancel(job_id: str) -> None:
    st.session_state["confirm_cancel"] = ""
    q = runtime.job_queue()
    try:
        job = q.get(job_id)
    except KeyError:
        st.session_state["runs_message"] = ("error", text.fmt("Job {} no longer exists.", job_id))
        return
    if not auth.may_manage(job.owner):
        st.session_state["runs_message"] = ("error", "Only the user who started this job (or an administrator) "
                                                     "may cancel it.")
        return
    q.cancel(job_id)


def _rename(run_id: str) -> None:
    """Rename the run the user saw when clicking (its id is bound to the button), if it still exists."""
    new_name = str(st.session_state.get("rename_to", "")).strip()
    try:
        runtime.run_store().rename(run_id, new_name)
        st.session_state["runs_message"] = ("success", text.fmt("Renamed run {} to {}.", run_id, new_name))
    except KeyError:
        st.session_state["runs_message"] = ("error", text.fmt(
            "Run {} no longer exists (someone else deleted it): nothing was renamed.", run_id))
    except ValueError as err:
        st.session_state["runs_message"] = ("error", text.fmt("Could not rename run {}: {}", run_id, err))
    runtime.runs_changed()


def _delete(run_id: str) -> None:
    """Delete exactly run ``run_id`` (confirmed), refusing when it is gone, running or not this user's."""
    st.session_state["confirm_delete"] = ""
    store = runtime.run_store()
    try:
        owner = store.get(run_id).owner
        if not auth.may_manage(owner):
            raise PermissionError("only the user who started it (or an administrator) may delete it")
        store.delete(run_id)
        st.session_state["runs_message"] = ("success", text.fmt("Deleted run {}.", run_id))
    except KeyError:
        st.session_state["runs_message"] = ("error", text.fmt(
            "Run {} no longer exists (someone else deleted it): nothing was deleted.", run_id))
    except (RunBusy, PermissionError) as err:
        st.session_state["runs_message"] = ("error", text.fmt("Run {} was not deleted: {}", run_id, err))
    except OSError as err:
        theme.log.error("deleting run %s failed", run_id, exc_info=err)
        st.session_state["runs_message"] = ("error", text.fmt("Could not delete run {}: {}", run_id,
                                                              text.error_line(err)))
    runtime.runs_changed()


def _runs_panel() -> None:
    st.subheader("Runs")
    kind, message = st.session_state.pop("runs_message", (None, None))
    if message:
        getattr(st, kind)(message)
    runs = runtime.runs_table()
    if runs.empty:
        st.info("The run store is empty: start a job above.")
        return
    st.dataframe(runs, hide_index=True, width="stretch")
    names = runs.set_index("run_id")["name"]
    run_id = st.selectbox("Run", runs["run_id"], key="manage_run",
                          format_func=lambda r: f"{names.get(r, '?')} ({r})",
                          help="Pick a run to rename or delete.")
    st.text_input("New name", key="rename_to", max_chars=80, help="Rename the picked run.")
    c1, c2 = st.columns(2)
    # the buttons carry the id shown now: a click acts on that run even if the list changed meanwhile
    c1.button("Rename", help="Give the picked run the new name.", on_click=_rename, args=(run_id,),
              disabled=not str(st.session_state.get("rename_to", "")).strip())
    c2.button("Delete", type="secondary", help="Delete the picked run and its files (asks first).",
              on_click=_ask, args=("confirm_delete", run_id))
    pending = st.session_state.get("confirm_delete")
    if pending:
        st.warning(text.fmt("Delete run {} ({}) and all its files? This cannot be undone.",
                            names.get(pending, "(no longer listed)"), pending), icon=":material/help:")
        yes, no = st.columns(2)
        yes.button("Yes, delete it", type="primary", key="delete_yes", on_click=_delete, args=(pending,))
        no.button("Keep it", key="delete_no", on_click=_ask, args=("confirm_delete", ""))


left, right = st.columns([2, 3])
with left:
    _submit_panel()
with right:
    st.subheader("Jobs")
    _jobs_panel()
_runs_panel()
