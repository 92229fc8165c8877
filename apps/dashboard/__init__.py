"""The Streamlit dashboard (run with ``glasswing dashboard``)."""
