"""Glasswing dashboard: the router (``st.navigation``), modelled on Streamlit's ``hello`` app.

Each page lives in ``views/`` (one file per page); the sidebar picks the model
every page works on: a built-in app or one trained on a user's data. Started by
``glasswing dashboard``, which passes the artifact root in ``GLASSWING_MODELS_DIR``.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from apps import APPS
from apps.dashboard import core

VIEWS = Path(__file__).parent / "views"


def _pages() -> dict:
    pages = {
        "Models": [
            st.Page(VIEWS / "overview.py", title="Overview", icon=":material/dashboard:", default=True)
        ],
        "Classifiers": [
            st.Page(VIEWS / "data.py", title="Data", icon=":material/dataset:"),
            st.Page(VIEWS / "playground.py", title="Playground", icon=":material/sports_esports:"),
            st.Page(VIEWS / "explain.py", title="Explain", icon=":material/search_insights:"),
            st.Page(VIEWS / "insights.py", title="Insights", icon=":material/insights:"),
            st.Page(VIEWS / "features.py", title="Features", icon=":material/layers:"),
            st.Page(VIEWS / "errors.py", title="Errors", icon=":material/error:"),
        ],
        "Deploy": [st.Page(VIEWS / "export.py", title="Export", icon=":material/deployed_code:")],
    }
    generate = VIEWS / "generate.py"
    if generate.is_file() and any(app.task == "generate" for app in APPS.values()):
        pages["Generators"] = [st.Page(generate, title="Generate", icon=":material/auto_awesome:")]
    return pages


def _sidebar() -> None:
    trained = core.trained_apps()
    if not trained:
        st.sidebar.info("No trained apps yet.")
        return
    if st.session_state.get(core.APP_KEY) not in trained:
        st.session_state[core.APP_KEY] = trained[0]
    apps = {name: core.resolve_app(name) for name in trained}
    st.sidebar.selectbox(
        "App",
        trained,
        key=core.APP_KEY,
        format_func=lambda name: f"{name} · {apps[name].modality} {apps[name].task}",
    )
    st.sidebar.caption(apps[st.session_state[core.APP_KEY]].description)


def main() -> None:
    """Sets up the page, the sidebar's app picker and runs the chosen page."""
    st.set_page_config(page_title="Glasswing", page_icon=":material/biotech:", layout="wide")
    page = st.navigation(_pages())
    _sidebar()
    page.run()


main()
