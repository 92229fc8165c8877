"""What the dashboard tests share: copies of the committed models, opening a page, reading it.

The pages run on copies of the committed models whose ``config.json`` points the
image app at the small synthetic Fashion-MNIST of ``conftest`` (200 test
images), so nothing here needs the real datasets and every page is seconds.
"""

from __future__ import annotations

import json
import shutil

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT

SCRIPT = str(ROOT / "apps" / "dashboard" / "streamlit_app.py")
COMMITTED = ROOT / "models"


def copy_app(name: str, models, data_dir, tflite=("float32", "int8")) -> None:
    """Copies a committed app folder (a few .tflite files only), pointing its data at ``data_dir``."""
    source, target = COMMITTED / name, models / name
    (target / "tflite").mkdir(parents=True)
    for f in source.iterdir():
        if f.is_file():
            shutil.copy(f, target / f.name)
    for mode in tflite:
        shutil.copy(source / "tflite" / f"{mode}.tflite", target / "tflite")
    shutil.copy(source / "tflite" / "metadata.json", target / "tflite")
    config = json.loads((source / "config.json").read_text())
    config["data_dir"] = str(data_dir)
    (target / "config.json").write_text(json.dumps(config))


def open_page(models, monkeypatch, app: str | None = None, page: str | None = None, state=None) -> AppTest:
    """Runs the dashboard on ``models`` at ``page`` with ``app`` chosen and ``state`` preset (widget keys)."""
    monkeypatch.setenv("GLASSWING_MODELS_DIR", str(models))
    at = AppTest.from_file(SCRIPT, default_timeout=120)
    for key, value in (state or {}).items():
        at.session_state[key] = value
    # Straight to the page with the app chosen: one script run instead of three.
    if app is not None:
        at.session_state["glasswing_app"] = app
    if page is not None:
        at.switch_page(f"views/{page}.py")
    at.run()
    assert_ok(at)
    if app is not None:
        assert at.sidebar.selectbox(key="glasswing_app").value == app
    return at


def assert_ok(at: AppTest) -> None:
    assert not at.exception, [e.value for e in at.exception]
    assert not at.error, [e.value for e in at.error]


def markdown_of(at: AppTest) -> str:
    return "\n".join(m.value for m in at.markdown)


def captions_of(at: AppTest) -> str:
    return "\n".join(c.value for c in at.caption)


def png_bytes(size=(40, 30)) -> bytes:
    """A small grey RGB PNG."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", size, (200, 200, 200)).save(buffer, format="PNG")
    return buffer.getvalue()
