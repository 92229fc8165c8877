"""The Streamlit dashboard (run with ``glasswing dashboard``)."""

# The largest upload a page accepts. The server is started with the same limit
# (``server.maxUploadSize``), so a bigger file is refused before it is sent.
MAX_UPLOAD_MB = 5
