"""``glasswing evaluate APP --data``: the user's labelled files and folders, and bad ones."""

from __future__ import annotations

import json

import numpy as np
import pytest

from apps import artifacts, labelled
from apps.cli import main
from apps.errors import GlasswingError
from apps.sentiment import APP
from tests.test_sentiment import NEGATIVE, POSITIVE, corpus_dir, write_corpus


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny BiLSTM trained on the synthetic corpus: ``models_dir``."""
    from apps.train import train

    data_dir = corpus_dir(tmp_path_factory.mktemp("labelled_data"))
    models = tmp_path_factory.mktemp("labelled_models")
    cfg = APP.Config.tiny(
        data_dir=str(data_dir), max_train_examples=0, batch_size=32, epochs=4, learning_rate=1e-2
    )
    train(APP, cfg, models)
    return models


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def evaluate_cli(capsys, models, *argv):
    """``glasswing evaluate sentiment --models-dir MODELS ARGV...``: (code, stdout, stderr)."""
    return run(capsys, "evaluate", "sentiment", "--models-dir", str(models), *argv)


def write_csv(path, n=40, extra_header=""):
    rng = np.random.default_rng(0)
    lines = [f"text,label{extra_header}"]
    for i in range(n):
        word = rng.choice(POSITIVE if i % 2 == 0 else NEGATIVE)
        label = "positive" if i % 2 == 0 else "0"  # names and indices both work
        group = ",a" if extra_header and i < n // 2 else ",b" if extra_header else ""
        lines.append(f'"the film is {word} and {word}",{label}{group}')
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_csv_and_vader_files_are_scored_with_a_report(capsys, trained, tmp_path):
    csv_path = write_csv(tmp_path / "mine.csv", extra_header=",group")
    report_path = tmp_path / "r.json"
    code, out, err = evaluate_cli(capsys, trained, "--data", str(csv_path), "--json", str(report_path))
    assert code == 0, err
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["n_examples"] == 40 and report["accuracy"] >= 0.9
    assert set(report["groups"]) == {"a", "b"} and report["groups"]["a"]["n"] == 20
    assert np.asarray(report["confusion_matrix"]).sum() == 40
    assert "accuracy" in out and "confusion matrix" in out
    assert report["no_known_word"] == []
    with_noise = tmp_path / "noise.csv"
    with_noise.write_text(csv_path.read_text() + '"!!! ??? 42",positive\n', encoding="utf-8")
    code, out, err = evaluate_cli(capsys, trained, "--data", str(with_noise), "--json", str(report_path))
    report = json.loads(report_path.read_text())
    assert code == 0 and report["n_examples"] == 41 and len(report["no_known_word"]) == 1
    assert "1 input(s) hold no word the model knows" in out
    vader = tmp_path / "vader.txt"
    rows = write_corpus(vader, n=30, seed=9)
    code, out, err = evaluate_cli(capsys, trained, "--data", str(vader))
    assert code == 0 and f"on {len(rows)} examples" in out


# ~13 s: in the slow set (CI runs it) to keep `make test` under 10 min on 2 cores.
@pytest.mark.slow
def test_the_exported_file_can_be_scored(capsys, trained, tmp_path):
    from apps.export import export

    export(APP, trained, "float32")
    csv_path = write_csv(tmp_path / "mine.csv")
    code, out, err = evaluate_cli(capsys, trained, "--data", str(csv_path), "--tflite", "float32")
    assert code == 0, err
    assert "float32.tflite" in out
    code, _, err = evaluate_cli(capsys, trained, "--data", str(csv_path), "--tflite", "int8")
    assert code == 2 and "glasswing export sentiment --quant int8" in err


def test_record_adds_a_domain_to_metrics_and_card(capsys, trained, tmp_path):
    csv_path = write_csv(tmp_path / "mine.csv")
    code, _, err = evaluate_cli(capsys, trained, "--data", str(csv_path), "--record", "my reviews")
    assert code == 0, err
    folder = trained / "sentiment"
    domain = artifacts.read_json(folder / "metrics.json")["domains"]["my reviews"]
    assert domain["n_examples"] == 40 and domain["data"] == "mine.csv"
    assert "| my reviews | 40 |" in (folder / "MODEL_CARD.md").read_text()
    from apps.dashboard.views.overview import comparison  # noqa: PLC0415

    table = comparison(artifacts.read_json(folder / "metrics.json"))
    assert "my reviews" in set(table["data"])


BAD_FILES = {
    "missing column": ("bad.csv", b"words,label\nhi,positive\n", "no 'text' column"),
    "unknown label": ("bad.csv", b"text,label\ngood,positive\nbad,meh\n", ":3: unknown label 'meh'"),
    "not utf-8": ("bad.csv", b"text,label\n\xff\xfe\xfa,positive\n", "not UTF-8"),
    "empty": ("bad.csv", b"", "is empty"),
    "malformed vader": ("bad.txt", b"1\tnot a number\ttext\n", "malformed line"),
    "only blank labels": ("bad.csv", b"text,label\n,positive\n", "no labelled sentence"),
}


@pytest.mark.parametrize("case", sorted(BAD_FILES))
def test_bad_files_get_one_clear_line(capsys, trained, tmp_path, case):
    name, content, message = BAD_FILES[case]
    path = tmp_path / name
    path.write_bytes(content)
    code, _, err = evaluate_cli(capsys, trained, "--data", str(path))
    assert code == 2 and message in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--data", "{tmp}"], "is a folder"),
        (["--data", "{tmp}/nope.csv"], "does not exist"),
        (["--data", "{tmp}/x.csv", "--json", "{tmp}/no/such/r.json"], "does not exist"),
        (["--data", "{tmp}/x.csv", "--json", "{tmp}/r.txt"], "expected a .json"),
        (["--json", "{tmp}/r.json"], "apply to --data"),
    ],
)
def test_bad_options_get_one_clear_line(capsys, trained, tmp_path, argv, message):
    write_csv(tmp_path / "x.csv")
    argv = [a.format(tmp=tmp_path) for a in argv]
    code, _, err = evaluate_cli(capsys, trained, *argv)
    assert code == 2 and message in err and "Traceback" not in err


def test_folders_label_by_subfolder_or_file_name(tmp_path):
    labels = ["yes", "no", "_unknown_"]
    for rel in (
        "alice/yes.wav",
        "alice/no_02.wav",
        "bob/no.wav",
        "yes/take1.wav",
        "bob/maybe.wav",
        "notes.md",
        "bob/yes.mp3",
    ):
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_bytes(b"x")
    data = labelled.read_folder(tmp_path, labels, (".wav",))
    assert dict(zip(data.names, data.labels)) == {
        "alice/yes.wav": "yes",
        "alice/no_02.wav": "no",
        "bob/no.wav": "no",
        "yes/take1.wav": "yes",
    }
    assert data.groups == ["alice", "alice", "bob", "yes"]
    skipped = dict(data.skipped)
    assert "bob/maybe.wav" in skipped and "bob/yes.mp3" in skipped and "notes.md" not in skipped
    with pytest.raises(GlasswingError, match=r"none of its 2 file\(s\) is named for a class .* from: left"):
        labelled.read_folder(tmp_path / "bob", ["left"], (".wav",))
    (tmp_path / "empty").mkdir()
    with pytest.raises(GlasswingError, match=r"no \.wav file"):
        labelled.read_folder(tmp_path / "empty", ["left"], (".wav",))
    with pytest.raises(GlasswingError, match="expected a folder"):
        labelled.read_folder(tmp_path / "notes.md", labels, (".wav",))


def test_report_counts_top2_groups_and_confident_misses():
    data = labelled.Labelled(
        ["a", "b", "c", "d"], ["x", "y", "y", "z"], ["a", "b", "c", "d"], ["g1", "g1", "g2", "g2"]
    )
    probs = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.1, 0.8, 0.1], [0.2, 0.7, 0.1]])
    report = labelled.report(probs, data, ["x", "y", "z"])
    assert report["accuracy"] == 0.5 and report["top2_accuracy"] == 0.75
    assert report["groups"] == {"g1": {"n": 2, "accuracy": 0.5}, "g2": {"n": 2, "accuracy": 0.5}}
    assert [m["input"] for m in report["most_confident_errors"]] == ["d", "b"]
    assert report["most_confident_errors"][0]["top3"][0] == ["y", 0.7]
    text = labelled.format_report(report)
    assert "per group" in text and "most confident misses" in text


def test_in_chunks_keeps_order_and_reports_progress():
    from apps.labelled import in_chunks

    lines = []
    out = in_chunks(
        lambda x: x * 2, np.arange(10)[:, None], 3, every_s=0.0, progress=lambda *a, **k: lines.append(a[0])
    )
    np.testing.assert_array_equal(out[:, 0], np.arange(10) * 2)
    assert len(lines) == 4 and lines[-1].startswith("  scored 10/10 in ")


def test_image_folders_take_tiff_as_the_upload_box_does(tmp_path):
    from PIL import Image

    from apps import APPS
    from apps.dashboard import render

    image = APPS["image"]
    (tmp_path / "Bag").mkdir()
    Image.fromarray(np.full((40, 30), 200, np.uint16)).save(tmp_path / "Bag" / "scan.tif")
    data = image.labelled(tmp_path, ["Bag", "Coat"])
    assert data.names == ["Bag/scan.tif"] and {"tif", "tiff"} <= set(render.IMAGE_TYPES)
    x = image.preprocess(data.inputs[0])
    assert x.shape == (28, 28, 1) and x.max() > 0
