"""The one exception type users see: a readable message, never a traceback."""


class GlasswingError(Exception):
    """A problem the user can fix: the message names it and says what to do.

    The CLI prints the message alone (no traceback) and exits with status 2;
    the dashboard shows it in one `st.error` box.
    """
