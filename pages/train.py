"""Train: start experiments in the background, follow their progress, manage the runs."""
from __future__ import annotations

from components import page

page.enter(__file__)  # before the heavy imports: a cold deep link hands over to app.py at once

import time

import pandas as pd
import plotly.graph_objects as go
import streamlit as st

from components import auth, data_session, runtime, selection, text, theme
from kgml_core import geo, settings
from kgml_core import labels as labels_module
from kgml_core.distributed import SCHEDULER_CHOICES
from kgml_core.experiments import EXPERIMENTS
from kgml_core.jobs import TERMINAL, QueueFull, can_resume
from kgml_core.runs import RunBusy


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
        described = "\n".join(f"- **{labels_module.model_name(m)}**: {labels.get(m, '')}" for m in options)
        return True, tuple(st.multiselect(label, options, default=options, key=key, help=f"{hint}\n\n{described}",
                                          format_func=lambda m: labels_module.model_name(m, short=True)))
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
    if setting.widget == "scheduler":
        options = list(SCHEDULER_CHOICES) + ([settings.dask_scheduler()] if settings.dask_scheduler() else [])
        value = st.selectbox(label, options, index=options.index(defaults[setting.key])
                             if defaults[setting.key] in options else 0, key=key, help=hint)
        return True, value
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
                         placeholder="experiment, preset and states when left empty",
                         help="A label for the run store; you can rename it later.")
    real = "[real data] " if experiment.data_source == "real data" else ""
    return preset, overrides, name.strip() or real + experiment.name_for(preset, overrides.get("states", ()))


SOURCES = {"simulated world": "simulated world", "real data (what is loaded)": "real data"}


def _real_inputs() -> tuple[dict, bool]:
    """Config overrides pointing at the real data loaded on the Data page; whether there is enough to run."""
    from kgml_core.experiments.real_yields.config import HRRR_IOWA, NASS_CORN
    from kgml_core.experiments.real_yields.data import pick_inputs, write_inputs
    from kgml_core import settings

    picked = pick_inputs({n: item.ds for n, item in data_session.loaded().items()})
    defaults = {"weather": settings.data_dir() / HRRR_IOWA, "yields": settings.data_dir() / NASS_CORN}
    rows = []
    for role in ("weather", "yields", "soils"):
        if role in picked:
            rows.append(text.fmt("- **{}**: {} (loaded on the Data page)", role, picked[role][0]))
        elif role in defaults and defaults[role].exists():
            rows.append(text.fmt("- **{}**: {} (the project's real-data folder; nothing loaded)", role,
                                 defaults[role].name))
        elif role == "soils":
            rows.append("- **soils**: the simulator's soil fields (no soil data loaded)")
        else:
            rows.append(f"- **{role}**: missing: load it on the Data page")
    st.markdown("Runs on **real data**:\n" + "\n".join(rows))
    ready = all(r in picked or defaults[r].exists() for r in ("weather", "yields"))
    overrides = write_inputs(picked, settings.home_dir() / "real_inputs") if ready and picked else {}
    return overrides, ready


def _submit_panel() -> None:
    source = SOURCES[st.radio("Data", list(SOURCES), horizontal=True, key="train_source",
                              help="Simulated world: the embedded simulator (every experiment). Real data: the "
                                   "county weather and yields loaded on the Data page (or the project's Iowa files), "
                                   "scored against real yields.")]
    kinds = [k for k, e in EXPERIMENTS.items() if e.data_source == source]
    kind = st.radio("Experiment", kinds, format_func=lambda k: EXPERIMENTS[k].title, key=f"train_kind_{source}",
                    help="What to train. Each reports held-out metrics and saves predictions.")
    extra, ready = _real_inputs() if source == "real data" else ({}, True)
    with st.form(f"train_form_{kind}", border=True):
        preset, overrides, name = _form(kind)
        overrides.update(extra)
        if st.form_submit_button("Start training", type="primary", icon=":material/play_arrow:", disabled=not ready):
            try:
                job = runtime.job_queue().submit(kind, preset, overrides, name=name, owner=auth.owner_id())
                st.session_state.setdefault("my_jobs", []).append(job.id)
                st.toast(text.fmt("Queued {}", job.name), icon=":material/schedule:")
            except QueueFull as err:
                st.warning(text.fmt("Not queued: {}", err), icon=":material/hourglass_top:")
            except Exception as err:
                theme.show_error("Could not start the job", err)


STEP_WORDS = {"step1": "step 1, pretraining on the process model's world",
              "step2": "step 2, yield head on county yields", "step3": "step 3, fluxes on the towers",
              "step4": "step 4, whole model on the towers", "step5": "step 5, Rh and NEE on the towers"}


def stage_label(stage: str) -> str:
    """"global/step3" -> "Global KGML-ag · step 3, fluxes on the towers"; TAM-RL stages likewise."""
    parts = stage.split("/")
    words = []
    for part in parts:
        if part in STEP_WORDS:
            words.append(STEP_WORDS[part])
        elif part.startswith("state_") and len(part) == 8:
            words.append(f"{labels_module.state_name(part[6:])} model")
        elif part.startswith("region_"):
            words.append(f"region {part[7:].replace('*', 'N')} model")
        elif part.startswith("fold"):
            words.append(f"fold {part[4:]}")
        elif part.startswith("seed"):
            words.append(f"seed {part[4:]}")
        elif part == "real":
            words.append("real towers")
        else:
            words.append(labels_module.model_name(part))
    return " · ".join(words)


def _minutes(seconds: float | None) -> str:
    if seconds is None:
        return "estimating the time left"
    if seconds < 90:
        return f"about {max(5, round(seconds / 5) * 5):.0f} s left"
    return f"about {seconds / 60:.0f} min left"


def _loss_figure(history: tuple[dict, ...], stage: str):
    """The losses of one stage against time (log scale), one line per loss."""
    frame = pd.DataFrame([h for h in history if h.get("stage") == stage])
    fig = go.Figure()
    for i, loss in enumerate(c for c in frame.columns if c not in ("t", "stage", "epoch")):
        part = frame[["t", loss]].dropna()
        if len(part):
            fig.add_trace(go.Scatter(x=part["t"], y=part[loss], mode="lines", name=loss.replace("_", " "),
                                     line=dict(color=labels_module.CATEGORICAL[i % len(labels_module.CATEGORICAL)])))
    fig.update_layout(template="plotly_white", height=280, margin=dict(l=70, r=10, t=10, b=50),
                      legend=dict(orientation="h", yanchor="top", y=-0.25, x=0),
                      xaxis_title="time since the job started (s)",
                      yaxis=dict(type="log", title="loss (log scale)", exponentformat="power", nticks=5))
    return fig


def _progress(job) -> None:
    """One overall bar (planned stages weighted by their work), the time left, and the stage list."""
    event, timeline = job.last, job.timeline
    if event is None or event.stage == "preparing" or not [sp for sp in timeline.spans if sp.name != "preparing"]:
        done = event.fraction if event is not None and event.n_epochs > 0 else 0.0
        what = (event.message if event is not None and event.message else "simulating the world")
        st.progress(float(done) * 0.999, text=f"Preparing the data: {what} · {job.seconds:.0f} s")
        return
    overall = timeline.fraction()
    now = time.time()
    stages = timeline.stages()
    position = next((i for i, r in enumerate(stages) if r["status"] == "running"), len(stages) - 1) + 1
    bar = overall if overall is not None else event.fraction
    st.progress(float(bar), text=f"{bar:.0%} overall · {_minutes(timeline.seconds_left(now))} · stage {position} "
                                 f"of {len(stages)}: {stage_label(event.stage)}")
    if event.losses:
        st.caption(" · ".join(f"{k.replace('_', ' ')} {v:.3g}" for k, v in event.losses.items()))
    with st.expander(f"Stages ({sum(r['status'] == 'done' for r in stages)} of {len(stages)} done)"):
        marks = {"done": "✓", "running": "▶", "waiting": "·"}
        st.markdown("\n".join(f"- {marks[r['status']]} {stage_label(r['stage'])}"
                               + (f" ({r['seconds']:.0f} s)" if r["status"] != "waiting" else "")
                               for r in stages))


def _job_card(job) -> None:
    q = runtime.job_queue()
    with st.container(border=True):
        head, button = st.columns([5, 1])
        status = "cancelling (stops at its next step)" if job.cancelling else job.status
        head.markdown(text.fmt("**{}** · {} · {} s", job.name, status, f"{job.seconds:.0f}"))
        if job.status in ("queued", "running") and not job.cancelling and auth.may_manage(job.owner):
            button.button("Cancel", key=f"cancel_{job.id}", help="Stop this job at its next step (asks first).",
                          on_click=_ask, args=("confirm_cancel", job.id))
            if st.session_state.get("confirm_cancel") == job.id:
                _confirm_cancel(job)
        if job.status == "queued":
            ahead = q.position(job.id)
            st.caption(f"waiting: {ahead} job{'s' if ahead != 1 else ''} ahead" if ahead else "starting")
        for note in job.notes:
            st.caption(text.fmt("{}", note), help="Trained before from the same settings, data, seed and code: "
                       "loaded from the stage store instead of trained again.")
        if job.status == "running":
            _progress(job)
        if job.status == "finished":
            st.progress(1.0, text=f"finished: run {job.run_id} ({job.seconds:.0f} s)")
        if job.status == "failed":
            first = (job.error or "").strip().splitlines()
            st.error(text.fmt("failed: {}", text.redact_paths(first[0]) if first else "unknown error"))
        if job.status == "interrupted":
            _interrupted(job)
        history = job.history  # an immutable snapshot: training publishes a new one at every event
        if history and job.status == "running":
            stages = list(dict.fromkeys(h["stage"] for h in history))
            key = f"loss_stage_{job.id}"
            if st.session_state.get(key) not in stages or st.session_state.get(f"{key}_follow", True):
                st.session_state[key] = stages[-1]
            chosen = st.selectbox("Loss curves of stage", stages, key=key, format_func=stage_label,
                                  on_change=lambda k=key: st.session_state.update({f"{k}_follow": False}),
                                  help="One stage at a time (each stage has its own losses); follows the "
                                       "running stage until you pick another.")
            st.plotly_chart(_loss_figure(history, chosen), key=f"loss_{job.id}_{len(history)}")


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
    seen = st.session_state.get("seen_ended")
    st.session_state["seen_ended"] = ended
    if seen is not None and ended - seen:  # a job ended: the Runs table (outside this fragment) must show it
        runtime.runs_changed()
        st.rerun(scope="app")


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
