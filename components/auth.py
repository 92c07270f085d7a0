"""Who is using the app, for shared deployments: off by default, Streamlit OIDC login or a reverse proxy.

``KGML_AUTH`` chooses:

* unset (default): no sign-in; every visitor may cancel and delete any job or run
  (each still confirmed); queue caps count per browser session.
* ``oidc``: Streamlit's built-in login (``st.login``) against the identity provider
  configured in ``.streamlit/secrets.toml`` (``[auth]``: ``redirect_uri``,
  ``cookie_secret``, ``client_id``, ``client_secret``, ``server_metadata_url``);
  the user id is the e-mail address.
* ``proxy``: a reverse proxy in front of the server signs users in and passes the
  user id in a header (``KGML_AUTH_HEADER``, default ``X-Forwarded-User``). Only
  safe when the server listens on localhost behind that proxy.

With sign-in on, a job and its run belong to the user who started it, and only
that user or an administrator (``KGML_ADMINS``, comma-separated ids) may cancel
or delete them.
"""
from __future__ import annotations

import os

import streamlit as st

MODES = ("", "oidc", "proxy")


def mode() -> str:
    """``""`` (no sign-in), ``"oidc"`` or ``"proxy"``; ValueError for anything else."""
    value = os.environ.get("KGML_AUTH", "").strip().lower()
    if value not in MODES:
        raise ValueError(f"KGML_AUTH={value!r}: expected one of 'oidc', 'proxy' or unset")
    return value


def admins() -> set[str]:
    """User ids allowed to cancel and delete anything (``KGML_ADMINS``)."""
    return {a.strip().lower() for a in os.environ.get("KGML_ADMINS", "").split(",") if a.strip()}


def current_user() -> str | None:
    """The signed-in user's id (lower case), or None when sign-in is off or nobody is signed in."""
    how = mode()
    if how == "oidc":
        return str(st.user.get("email") or "").lower() or None if st.user.is_logged_in else None
    if how == "proxy":
        value = st.context.headers.get(os.environ.get("KGML_AUTH_HEADER", "X-Forwarded-User"))
        return value.strip().lower() or None if value else None
    return None


def require_sign_in() -> None:
    """Stop the page with a sign-in prompt when sign-in is on and nobody is signed in (called by app.py)."""
    how = mode()
    if not how or current_user():
        return
    st.title("KGML Carbon Dashboard")
    if how == "oidc":
        st.info("Sign in to use this dashboard.")
        if st.button("Sign in", type="primary"):
            st.login()
    else:
        st.error("This server expects a signed-in user from its proxy, and none was given.")
    st.stop()


def owner_id() -> str:
    """Who owns what this visitor starts: the signed-in user, else this browser session."""
    user = current_user()
    if user:
        return user
    from streamlit.runtime.scriptrunner import get_script_run_ctx

    ctx = get_script_run_ctx()
    return f"session:{ctx.session_id if ctx else 'none'}"


def may_manage(owner: str | None) -> bool:
    """Whether this visitor may cancel or delete a job or run owned by ``owner``."""
    if not mode():
        return True
    user = current_user()
    return bool(user) and (user in admins() or (owner or "").lower() == user)
