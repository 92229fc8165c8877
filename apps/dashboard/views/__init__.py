"""Dashboard pages, one file per page (run by ``st.navigation``, not imported)."""
