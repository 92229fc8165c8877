"""The glasswing command line: help, bad arguments, missing or corrupt models."""

import os
import subprocess
import sys

import pytest

from apps.cli import build_parser, main
from tests.conftest import ROOT


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_every_verb_has_help():
    parser = build_parser()
    text = parser.format_help()
    for verb in ("train", "evaluate", "export", "data", "dashboard"):
        assert verb in text
    sub = parser._subparsers._group_actions[0].choices  # noqa: SLF001 - argparse has no public accessor
    assert "--quant" in sub["export"].format_help() and "--set" in sub["train"].format_help()


def test_unknown_app_lists_the_valid_ones(capsys):
    code, _, err = run_cli(capsys, "train", "imgae")
    assert code == 2
    assert "Unknown app='imgae'" in err and "'image'" in err and "Traceback" not in err


def test_unknown_config_key_lists_the_valid_ones(capsys):
    code, _, err = run_cli(capsys, "train", "image", "--set", "epoch=3")
    assert code == 2 and "Unknown config key 'epoch'" in err and "epochs" in err


def test_unknown_quant_is_rejected_with_choices(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["export", "image", "--quant", "int4"])
    assert exit_info.value.code == 2
    assert "int8" in capsys.readouterr().err


def test_evaluate_without_a_model_says_how_to_train(capsys, tmp_path):
    code, _, err = run_cli(capsys, "evaluate", "image", "--models-dir", str(tmp_path))
    assert code == 2 and "glasswing train image" in err


def test_export_of_a_corrupt_model_is_one_clear_line(capsys, tmp_path):
    (tmp_path / "image").mkdir()
    (tmp_path / "image" / "model.keras").write_bytes(b"garbage")
    (tmp_path / "image" / "config.json").write_text("{}")
    code, _, err = run_cli(capsys, "export", "image", "--models-dir", str(tmp_path))
    assert code == 2 and "corrupt" in err and len(err.strip().splitlines()) == 1


def test_evaluate_prints_metrics_of_a_trained_model(capsys, image_cfg, tmp_path):
    from apps.image import APP
    from apps.train import train

    train(APP, image_cfg, tmp_path)
    code, out, _ = run_cli(capsys, "evaluate", "image", "--models-dir", str(tmp_path))
    assert code == 0 and '"accuracy"' in out and '"confusion_matrix"' in out


def test_python_dash_m_apps_train_is_the_train_verb():
    done = subprocess.run(
        [sys.executable, "-m", "apps.train", "--help"],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        timeout=120,
    )
    assert done.returncode == 0 and "--set KEY=VALUE" in done.stdout


@pytest.mark.slow  # 10-18 s end to end: in `make test-slow`, so the default run stays under 10 min
def test_explain_writes_a_heatmap_and_names_bad_arguments(capsys, image_cfg, tmp_path):
    from PIL import Image

    from apps.image import APP
    from apps.train import train

    train(APP, image_cfg, tmp_path)
    image = tmp_path / "in.png"
    Image.fromarray((APP.fake_batch(image_cfg, 1)[0][0, ..., 0] * 255).astype("uint8")).save(image)
    base = ["explain", "image", "--models-dir", str(tmp_path), "--input", str(image)]

    code, out, _ = run_cli(
        capsys, *base, "--method", "integrated_gradients", "--out", str(tmp_path / "m.png")
    )
    assert code == 0 and "completeness_error" in out
    with Image.open(tmp_path / "m.png") as png:
        assert png.width > 100 and png.height > 100

    code, _, err = run_cli(capsys, *base, "--method", "magic")
    assert code == 2 and "Unknown method='magic'" in err and "saliency" in err
    code, _, err = run_cli(capsys, *base, "--method", "saliency", "--target", "12")
    assert code == 2 and "target=12" in err
    code, _, err = run_cli(
        capsys, "explain", "image", "--models-dir", str(tmp_path), "--input", "nope.png", "--method", "lime"
    )
    assert code == 2 and "nope.png does not exist" in err
    (tmp_path / "bad.png").write_bytes(b"not an image")
    code, _, err = run_cli(
        capsys,
        "explain",
        "image",
        "--models-dir",
        str(tmp_path),
        "--input",
        str(tmp_path / "bad.png"),
        "--method",
        "lime",
    )
    assert code == 2 and "Cannot read the image" in err

    # --global: what the model relies on per class, over the test split or the user's own folder.
    report = tmp_path / "report.html"
    gl = ["explain", "image", "--models-dir", str(tmp_path), "--global", "--per-class", "2"]
    code, out, err = run_cli(capsys, *gl, "--out", str(report))
    assert code == 0, err
    assert "Class-average attribution maps" in report.read_text() and "accuracy" in out
    own = tmp_path / "own"
    for k, label in enumerate(APP.labels(image_cfg)[1:3]):  # no "/" in these names
        (own / label).mkdir(parents=True)
        for i in range(2):
            pixels = APP.fake_batch(image_cfg, 4)[0][2 * k + i, ..., 0]
            Image.fromarray((pixels * 255).astype("uint8")).save(own / label / f"{i}.png")
    code, out, err = run_cli(capsys, *gl, "--data", str(own), "--out", str(report))
    assert code == 0, err
    assert f"4 examples from {own}" in out and str(own) in report.read_text()
    code, _, err = run_cli(capsys, *gl)
    assert code == 2 and "--out REPORT.html" in err
    code, _, err = run_cli(capsys, *gl, "--out", str(tmp_path / "r.png"))
    assert code == 2 and ".html" in err
    code, _, err = run_cli(capsys, "explain", "image", "--models-dir", str(tmp_path), "--method", "lime")
    assert code == 2 and "--input FILE or --text TEXT" in err

    # --compare: the same model in another folder agrees with itself; an untrained twin does not.
    import shutil

    from apps import artifacts

    twin, untrained = tmp_path / "twin", tmp_path / "untrained"
    shutil.copytree(tmp_path / "image", twin)
    shutil.copytree(tmp_path / "image", untrained)
    APP.build(image_cfg).save(untrained / artifacts.MODEL_FILE)
    cmp = ["explain", "image", "--models-dir", str(tmp_path), "--per-class", "2", "--compare"]
    code, out, err = run_cli(capsys, *cmp, str(twin), "--method", "integrated_gradients")
    assert code == 0, err
    assert "same class on 100.0%" in out and "1.000 ± 0.000" in out
    code, out, err = run_cli(capsys, *cmp, str(untrained), "--method", "integrated_gradients")
    assert code == 0, err
    rho = float(next(line for line in out.splitlines() if line.startswith("integrated_gradients")).split()[1])
    assert rho < 0.9
    code, _, err = run_cli(capsys, *cmp, str(tmp_path / "nowhere"))
    assert code == 2 and "no model.keras there" in err  # one line, not a traceback


def test_token_strings_map_ids_through_the_vocabulary(tmp_path):
    from apps.artifacts import token_strings

    (tmp_path / "vocab.txt").write_text("\n[UNK]\ngood\nfilm\n", encoding="utf-8")
    assert token_strings(tmp_path, [2, 3, 1, 0, 0]) == ["good", "film", "[UNK]", "", ""]
    assert token_strings(tmp_path / "missing", [1]) is None


@pytest.mark.slow  # 10-18 s end to end: in `make test-slow`, so the default run stays under 10 min
def test_predict_shows_keras_and_tflite_side_by_side(capsys, image_cfg, tmp_path):
    from PIL import Image

    from apps.export import export
    from apps.image import APP
    from apps.train import train

    train(APP, image_cfg, tmp_path)
    image = tmp_path / "in.png"
    Image.fromarray((APP.fake_batch(image_cfg, 1)[0][0, ..., 0] * 255).astype("uint8")).save(image)
    base = ["predict", "image", "--models-dir", str(tmp_path), "--input", str(image)]

    code, _, err = run_cli(capsys, *base, "--tflite", "int8")
    assert code == 2 and "glasswing export image --quant int8" in err
    export(APP, tmp_path, "int8")
    capsys.readouterr()
    code, out, _ = run_cli(capsys, *base, "--tflite", "int8", "--top-k", "2")
    lines = out.strip().splitlines()
    assert code == 0 and "tflite int8" in lines[0] and len(lines) == 4 and "top-1 agreement" in lines[-1]
    probs = [float(v) for v in lines[1].split()[-2:]]
    assert abs(probs[0] - probs[1]) < 0.1
    code, _, err = run_cli(capsys, *base, "--top-k", "0")
    assert code == 2 and "--top-k must be >= 1" in err
