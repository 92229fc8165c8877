"""A battery of bad and awkward inputs across every verb and modality (issue: hardening).

Each CLI case runs ``glasswing`` in-process on the committed models and must end
in exactly one of two ways:

* ``error``: exit status 2 and one ``glasswing: error:`` line naming the problem
  (or argparse's own usage error), never a traceback;
* ``ok``: exit status 0 and a correct answer, with what the input was like said
  in the output where it matters.

The dashboard cases upload the same files through ``AppTest`` to the Playground
and must show one ``st.error`` (or the prediction) with no exception. No case
may change a committed model.
"""

from __future__ import annotations

import contextlib
import io
import shlex
from pathlib import Path

import pytest

from apps.cli import main
from tests import hostile
from tests.conftest import ROOT
from tests.test_dashboard_speech import speech_models  # noqa: F401 - a fixture, used by name

# argv  =>  what the one error line (or, with "ok", the output) must contain.
# {f} is the folder of hostile files, {m} a models folder linked to the committed models.
CLI_CASES = """
predict imgae --input {f}/good.png => Unknown app='imgae'
predict IMAGE --input {f}/good.png => Unknown app='IMAGE'
predict '' --input {f}/good.png => Unknown app=''
predict image --models-dir {f}/a_file --input {f}/good.png => No trained model
predict image --models-dir {f}/emptydir --input {f}/good.png => Train one with `glasswing train image`
predict image --input {f}/missing.png => does not exist
predict image --input {f}/emptydir => is a folder; give one file
predict image --input {f}/empty.png => not an image format Pillow knows
predict image --input {f}/trunc.png => image file is truncated
predict image --input {f}/garbage.png => not an image format Pillow knows
predict image --input {f}/text.png => not an image format Pillow knows
predict image --input {f}/drawing.svg => not an image format Pillow knows
predict image --input {f}/good.wav => not an image format Pillow knows
predict image --input {f}/bomb.png => could be decompression bomb
predict image --input {f}/nan.tiff => NaN or infinite pixel values
predict image --input {f}/inf.tiff => NaN or infinite pixel values
predict image --text "a shirt" => --text applies to text apps
predict image => usage: one of the arguments --input --text is required
predict image --input {f}/good.png --top-k 0 => --top-k must be >= 1
predict image --input {f}/good.png --top-k -3 => --top-k must be >= 1
predict image --input {f}/good.png --top-k abc => usage: invalid int value: 'abc'
predict image --input {f}/good.png --scan => --scan applies to apps that read long recordings
predict image --input {f}/good.png --tflite bogus => usage: invalid choice: 'bogus'
predict image --input {f}/good.png --text hi => usage: not allowed with argument --input
predict image --input {f}/png.jpg => ok: Shirt
predict image --input {f}/noext => ok: Shirt
predict image --input {f}/good.png --top-k 1000 => ok: Sandal
predict image --input {f}/tiny.png => ok: class
predict image --input {f}/line.png => ok: class
predict image --input {f}/cmyk.jpg => ok: class
predict image --input {f}/transparent.png => ok: class
predict image --input {f}/palette.gif => ok: class
predict image --input {f}/bilevel.png => ok: class
predict image --input {f}/i16.png => ok: class
predict image --input {f}/anim.gif => ok: class
predict speech --input {f}/empty.wav => is empty (0 bytes)
predict speech --input {f}/zero_frames.wav => holds no audio samples
predict speech --input {f}/nan.wav => contains NaN or infinite samples
predict speech --input {f}/inf.wav => contains NaN or infinite samples
predict speech --input {f}/trunc.wav => No 'data' chunk marker
predict speech --input {f}/garbage.wav => is not a readable WAV, FLAC, OGG or MP3 file
predict speech --input {f}/png.wav => Format not recognised
predict speech --input {f}/good.png => is not a readable WAV, FLAC, OGG or MP3 file
predict speech --input {f}/good.txt => is not a readable WAV, FLAC, OGG or MP3 file
predict speech --text yes => --text applies to text apps
predict speech --input {f}/good.wav --scan --min-prob 1.5 => --min-prob must be in (0, 1]
predict speech --input {f}/good.wav --scan --min-prob nan => --min-prob must be in (0, 1]
predict speech --input {f}/good.wav --min-prob 0.3 => --min-prob does not apply here
predict speech --input {f}/empty.wav --scan => is empty (0 bytes)
predict speech --input {f}/one_sample.wav => ok: padded 0.00 s to 1.00 s
predict speech --input {f}/loud.wav => ok: clipped
predict speech --input {f}/six_channels.wav => ok: 6 channels; converted to 16 kHz mono
predict speech --input {f}/rate1.wav => ok: 1 Hz, 1 channel; converted to 16 kHz mono
predict speech --input {f}/rate384k.wav => ok: 384000 Hz
predict speech --input {f}/u8.wav => ok: 16000 Hz, 1 channel
predict speech --input {f}/pcm24.wav => ok: 16000 Hz, 1 channel
predict speech --input {f}/good.flac => ok: 16000 Hz, 1 channel
predict speech --input {f}/good.ogg => ok: 16000 Hz, 1 channel
predict speech --input {f}/one_sample.wav --scan => ok: no keyword heard
predict sentiment --text "" => The text is empty
predict sentiment --text "   " => The text is empty
predict sentiment --input {f}/empty.txt => The text is empty
predict sentiment --input {f}/spaces.txt => The text is empty
predict sentiment --input {f}/binary.txt => This is not text
predict sentiment --input {f}/nul.txt => This is not text
predict sentiment --input {f}/good.png => This is not text
predict sentiment --input {f}/good.wav => This is not text
predict sentiment --input {f}/good.txt --text "also this" => usage: not allowed with argument --input
predict sentiment --text "!!!???" => ok: no word of this text is one the model knows
predict sentiment --input {f}/utf16.txt => ok: positive
predict sentiment --input {f}/latin1.txt => ok: positive
predict vae --input {f}/good.png => 'vae' is a generator: use `glasswing generate vae`
generate image => App 'image' does not generate
generate vae --out {f}/g.png --n 0 => n must be between 1 and 1024
generate vae --out {f}/g.png --n -1 => n must be between 1 and 1024
generate vae --out {f}/g.png --n 100000000 => n must be between 1 and 1024
generate vae --out {f}/g.png --seed -1 => --seed must be >= 0
generate vae --out {f}/g.png --prompt hi => --prompt does not apply here: 'vae' generates images
generate vae --out {f}/g.png --temperature nan => --temperature does not apply here
generate vae => need --out FILE.png
generate vae --out {f}/nowhere/g.png => folder {f}/nowhere does not exist
generate vae --out {f}/g.txt => expected a .png file name
generate vae --out {f}/emptydir => expected a .png file name
generate textgen => Text generators need --prompt TEXT
generate textgen --prompt ROMEO --out {f}/t.png => --out does not apply here: 'textgen' generates text
generate textgen --prompt ROMEO --n 4 => --n does not apply here
generate textgen --prompt ROMEO --length 0 => length must be a whole number from 1 to 5000
generate textgen --prompt ROMEO --length -5 => length must be a whole number from 1 to 5000
generate textgen --prompt ROMEO --length 100000000000 => length must be a whole number from 1 to 5000
generate textgen --prompt ROMEO --temperature 0 => temperature must be a finite number > 0
generate textgen --prompt ROMEO --temperature -1 => temperature must be a finite number > 0
generate textgen --prompt ROMEO --temperature nan => temperature must be a finite number > 0
generate textgen --prompt ROMEO --temperature inf => temperature must be a finite number > 0
generate textgen --prompt ROMEO --top-k -1 => top_k must be from 0 (all)
generate textgen --prompt ROMEO --top-k 100000 => top_k must be from 0 (all)
generate textgen --prompt "" => The prompt is empty
generate textgen --prompt "\u4e2d\U0001f600" => the model never saw
generate textgen --prompt ROMEO --length 5 --temperature 1e-320 => ok: ROMEO
generate textgen --prompt ROMEO --length 5 --seed 99999999999999999999999 => ok: ROMEO
explain image --input {f}/good.png => Give the explainer with --method
explain image --method saliency => Give the input to explain
explain image --input {f}/good.png --method bogus => Unknown method='bogus'
explain image --input {f}/good.png --method saliency --target -1 => outside the label range 0..9
explain image --input {f}/good.png --method saliency --target 10 => outside the label range 0..9
explain image --input {f}/good.png --method saliency --target abc => usage: invalid int value: 'abc'
explain image --input {f}/good.png --method saliency --out {f}/emptydir => expected a .png file name
explain image --input {f}/good.png --method saliency --out {f}/x.jpg => expected a .png file name
explain image --input {f}/good.png --method saliency --out {f}/x.wav => expected a .png file name
explain image --input {f}/nan.tiff --method saliency => NaN or infinite pixel values
explain image --text shirt --method saliency => --text applies to text apps
explain speech --input {f}/good.wav --method saliency --out {f}/y.wav --keep 0 => --keep must be between
explain speech --input {f}/good.wav --method saliency --out {f}/y.wav --keep 1.5 => --keep must be between
explain speech --input {f}/good.wav --method saliency --out {f}/y.wav --keep nan => --keep must be between
explain speech --input {f}/empty.wav --method saliency => is empty (0 bytes)
explain speech --input {f}/garbage.wav --method saliency => is not a readable WAV, FLAC, OGG or MP3 file
explain speech --input {f}/good.wav --method grad_cam --target 99 => outside the label range 0..21
explain sentiment --text "" --method saliency => The text is empty
explain sentiment --text good --method grad_cam => does not support app 'sentiment'
explain sentiment --input {f}/binary.txt --method saliency => This is not text
explain textgen --text hi --method saliency => explain applies to classifier apps
explain vae --input {f}/good.png --method saliency => explain applies to classifier apps
explain image --global --per-class 0 --out {f}/r.html => --per-class must be >= 1
explain image --global --per-class -1 --out {f}/r.html => --per-class must be >= 1
explain image --global --out {f}/r.png => expected a .html file name
explain image --global --data {f}/emptydir --out {f}/r.html => .bmp/.gif/.tif/.tiff file
explain image --global --data {f}/oneclass --out {f}/r.html => is named for a class of this model
explain image --global --method bogus --out {f}/r.html => Method 'bogus' does not support app 'image'
explain image --global --compare {m}/image --out {f}/r.html => Use --global or --compare, not both
explain image --compare {f}/missing => no model.keras there
explain image --compare {f}/emptydir => no model.keras there
explain image --compare {m}/speech => does not fit app 'image'
explain image --compare {m}/image --input {f}/good.png => --input does not apply here
explain image --compare {m}/image --data {f}/oneclass => --data does not apply here
explain image --global --text hi --target 1 --out {f}/r.html => --text, --target do not apply here
explain image --input {f}/good.png --method saliency --per-class 3 => --per-class does not apply here
explain image --input {f}/good.png --method saliency --out {f}/x.png --keep 0.3 => --keep does not apply here
evaluate image --split bogus => usage: invalid choice: 'bogus'
evaluate image --data {f}/missing => does not exist; expected a folder
evaluate image --data {f}/good.png => is a file; expected a folder
evaluate image --data {f}/emptydir => no .jpg/.jpeg/.png/.webp/.bmp/.gif/.tif/.tiff file
evaluate image --data {f}/oneclass => classes from: T-shirt/top
evaluate image --data {f}/junk => No input of --data could be read
evaluate image --data {f}/oneclass --json {f}/nowhere/r.json => folder {f}/nowhere does not exist
evaluate image --json {f}/r.json => apply to --data
evaluate sentiment --data {f}/bad.csv => no 'text' or 'label' column
evaluate sentiment --data {f}/empty.csv => is empty
evaluate sentiment --data {f}/badlabel.csv => unknown label 'maybe'
evaluate sentiment --data {f}/vader_bad.txt => expected id<TAB>score<TAB>text lines
evaluate sentiment --data {f}/header_only.csv => holds no labelled sentence
evaluate sentiment --data {f}/binary.txt => is not UTF-8 text
evaluate speech --data {f}/good.wav => is a file; expected a folder
evaluate vae --data {f}/oneclass => 'vae' is a generate app
train image --set bogus=1 => Unknown config key 'bogus'
train image --set epochs => --set expects key=value
train image --set epochs=1e9 => expected int
train image --set epochs=0 => epochs must be >= 1
train image --set batch_size=0 => batch_size must be >= 1
train image --set learning_rate=0 => learning_rate must be > 0
train image --set learning_rate=nan => learning_rate must be a finite number
train image --set augment=maybe => expected a boolean
train image --set seed=-1 => seed must be >= 0
train image --set data_dir= => data_dir must name a folder
train speech --set sample_rate=0 => sample_rate must be > 0
train image --from image => --from applies to --data
train image --test-data {f}/oneclass => --test-data applies to --data
train image --data {f}/oneclass => --data needs --name NAME
train image --data {f}/junk --name mine => fewer than 2 examples
train image --data {f}/oneclass --name ../evil => use letters, digits
train image --data {f}/oneclass --name image => is a built-in app's
train image --strategy multiworker => needs the TF_CONFIG environment variable
train image --strategy bogus => usage: invalid choice: 'bogus'
export image --models-dir {f}/emptydir => No trained model
export image --quant bogus => usage: invalid choice: 'bogus'
optimize image => usage: one of the arguments --prune --distill
optimize image --prune 0.3 => sparsity must be between 0.5 and 0.9
optimize image --prune 1.0 => sparsity must be between 0.5 and 0.9
optimize image --prune abc => --prune expects numbers
optimize image --prune "" => --prune expects numbers
optimize image --distill --alpha -1 => Need 0 <= alpha <= 1
optimize image --distill --alpha nan => Need 0 <= alpha <= 1
optimize image --distill --temperature 0 => temperature > 0
optimize image --distill --student bogus=1 => Unknown config key 'bogus'
optimize image --distill --epochs 0 => --epochs must be >= 1
optimize image --int8-debug --keep-float -1 => --keep-float must be >= 0
optimize vae --prune 0.5 => works on classifiers only
dashboard --port -1 => --port must be from 1 to 65535
dashboard --port 70000 => --port must be from 1 to 65535
dashboard --port abc => usage: invalid int value: 'abc'
dashboard --models-dir {f}/missing => does not exist; give the folder
dashboard --models-dir {f}/a_file => is a file; give the folder
"""

VERBS_WITH_MODELS = ("predict", "explain", "evaluate", "generate", "train", "export", "optimize")


def _cases() -> list[tuple[str, str]]:
    rows = [line.split("=>") for line in CLI_CASES.strip().splitlines()]
    return [(argv.strip(), expected.strip()) for argv, expected in rows]


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    return hostile.write_all(tmp_path_factory.mktemp("hostile"))


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns) for p in folder.rglob("*")}


@pytest.fixture(scope="module")
def linked(tmp_path_factory):
    """A models folder of links to the committed models; they must be unchanged after the battery.

    A publish replaces a whole app folder by renaming, so even a case that wrongly
    trained would swap the links away rather than write through them.
    """
    committed = ROOT / "models"
    before = _snapshot(committed)
    root = tmp_path_factory.mktemp("models")
    for app in committed.iterdir():
        (root / app.name).mkdir()
        for item in app.iterdir():
            (root / app.name / item.name).symlink_to(item)
    yield root
    assert _snapshot(committed) == before, "a battery case changed a committed model"


@pytest.fixture(scope="module", autouse=True)
def load_each_model_once():
    """Each committed model is loaded once for the whole battery (the 22M-parameter encoder takes ~2 s).

    The cache is keyed by app and folder, so a case that points elsewhere still
    meets the real loader and its checks.
    """
    from apps import artifacts

    real, cache = artifacts.load_trained, {}

    def cached(app, folder):
        key = (app.name, str(Path(folder).resolve()))
        if key not in cache:
            cache[key] = real(app, folder)
        return cache[key]

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(artifacts, "load_trained", cached)
        yield


def run(argv: list[str]) -> tuple[int, str, str]:
    """``glasswing argv`` in-process: (status, stdout, stderr); an uncaught exception fails the case."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exit_:  # argparse's own usage errors
            code = exit_.code
    return code, out.getvalue(), err.getvalue()


def _argv(line: str, files: Path, models: Path) -> list[str]:
    argv = [a.replace("{f}", str(files)).replace("{m}", str(models)) for a in shlex.split(line)]
    if argv[0] in VERBS_WITH_MODELS and "--models-dir" not in argv:
        argv[2:2] = ["--models-dir", str(models)]
    return argv


@pytest.mark.parametrize(("line", "expected"), _cases(), ids=[c[0] for c in _cases()])
def test_cli_case(line, expected, files, linked):
    code, out, err = run(_argv(line, files, linked))
    expected = expected.replace("{f}", str(files))
    assert "Traceback" not in out + err
    if expected.startswith("ok:"):
        assert code == 0, err
        assert expected[3:].strip() in out
        return
    lines = [line for line in err.splitlines() if line.strip()]
    if expected.startswith("usage:"):
        assert code == 2 and lines[-1].startswith("glasswing") and expected[6:].strip() in lines[-1], err
        return
    assert code == 2, (code, out, err)
    assert len(lines) == 1 and lines[0].startswith("glasswing: error: "), err
    assert expected in lines[0], lines[0]


def test_the_battery_is_at_least_a_hundred_cases_over_every_verb():
    verbs = {shlex.split(argv)[0] for argv, _ in _cases()}
    assert len(_cases()) + len(UPLOADS) >= 100
    assert verbs >= {"predict", "explain", "evaluate", "generate", "train", "export", "optimize", "dashboard"}


# ----- the dashboard's upload paths, through AppTest -----

# (app, file in the hostile folder, upload name, what the page's one error says; None: a prediction)
UPLOADS = [
    ("image", "empty.png", "shirt.png", "is empty (0 bytes)"),
    ("image", "trunc.png", "shirt.png", "image file is truncated"),
    ("image", "garbage.png", "shirt.png", "not an image format Pillow knows"),
    ("image", "text.png", "shirt.png", "not an image format Pillow knows"),
    ("image", "bomb.png", "shirt.png", "could be decompression bomb"),
    ("image", "nan.tiff", "shirt.tiff", "NaN or infinite pixel values"),
    ("image", "good.wav", "shirt.png", "not an image format Pillow knows"),
    ("image", "cmyk.jpg", "shirt.jpg", None),
    ("image", "i16.png", "shirt.png", None),
    ("image", "anim.gif", "shirt.gif", None),
    ("sentiment", "empty.txt", "review.txt", "is empty (0 bytes)"),
    ("sentiment", "spaces.txt", "review.txt", "The text is empty"),
    ("sentiment", "binary.txt", "review.txt", "This is not text"),
    ("sentiment", "nul.txt", "review.txt", "This is not text"),
    ("sentiment", "good.png", "review.txt", "This is not text"),
    ("sentiment", "utf16.txt", "review.txt", None),
    ("sentiment", "latin1.txt", "review.txt", None),
    ("speech", "empty.wav", "me.wav", "is empty (0 bytes)"),
    ("speech", "zero_frames.wav", "me.wav", "holds no audio samples"),
    ("speech", "nan.wav", "me.wav", "contains NaN or infinite samples"),
    ("speech", "garbage.wav", "me.wav", "is not a readable WAV, FLAC, OGG or MP3 file"),
    ("speech", "good.png", "me.wav", "Format not recognised"),
    ("speech", "trunc.wav", "me.wav", "No 'data' chunk marker"),
    ("speech", "six_channels.wav", "me.wav", None),
    ("speech", "rate1.wav", "me.wav", None),
    ("speech", "good.flac", "me.flac", None),
]


@pytest.mark.parametrize(
    ("app", "source", "name", "expected"), UPLOADS, ids=[f"{u[0]}-{u[1]}" for u in UPLOADS]
)
def test_dashboard_upload(app, source, name, expected, files, request, monkeypatch):
    from tests.dashboard_helpers import open_page

    # The page tests' folders: the committed models reading small synthetic test splits.
    models = request.getfixturevalue("speech_models" if app == "speech" else "models")
    at = open_page(models, monkeypatch, app, "playground", state={"playground:source": "Your own"})
    before = [m.value for m in at.metric]
    at.file_uploader(key="playground:file").set_value(
        (name, (files / source).read_bytes(), "application/octet-stream")
    )
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    if expected is None:
        assert not errors, errors
        assert [m.value for m in at.metric], "no prediction shown"
        return
    assert len(errors) == 1 and expected in errors[0], errors
    assert [m.value for m in at.metric] == before  # the last good input and its prediction stay
