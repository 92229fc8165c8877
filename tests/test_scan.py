"""apps.scan: windows merged into keyword detections; apps that cannot scan say so."""

import numpy as np
import pytest

from apps import scan
from apps.cli import main

LABELS = ["yes", "no", "_unknown_", "_silence_"]


def one_hot(indices, p=0.9):
    probs = np.full((len(indices), len(LABELS)), (1 - p) / (len(LABELS) - 1))
    probs[np.arange(len(indices)), indices] = p
    return probs


def spans(k, hop=0.25):
    starts = np.arange(k) * hop
    return np.stack([starts, starts + 1.0], axis=1)


def test_background_labels_are_underscored():
    assert scan.is_background("_silence_") and scan.is_background("_unknown_")
    assert not scan.is_background("yes") and not scan.is_background("_") and not scan.is_background("_a")


def test_agreeing_neighbours_merge_and_background_splits():
    # yes yes yes | silence | yes | no no | unknown
    probs = one_hot([0, 0, 0, 3, 0, 1, 1, 2])
    probs[1, 0] = 0.97  # the middle window of the first run is the most confident
    found = scan.detections(probs, spans(8), LABELS, min_windows=1)
    assert [(d.label, d.start_s, d.end_s, d.windows) for d in found] == [
        ("yes", 0.0, 1.5, 3),
        ("yes", 1.0, 2.0, 1),
        ("no", 1.25, 2.5, 2),
    ]
    assert found[0].prob == pytest.approx(0.97)


def test_a_lone_window_counts_only_at_the_recording_edges():
    # no | silence | yes yes | silence | no | unknown | yes yes yes | silence | no
    probs = one_hot([1, 3, 0, 0, 3, 1, 2, 0, 0, 0, 3, 1])
    found = scan.detections(probs, spans(12), LABELS)  # default: at least 2 windows
    # The middle lone "no" (a fragment) is dropped; the lone ones in the first and last window stay.
    assert [(d.label, d.windows) for d in found] == [("no", 1), ("yes", 2), ("yes", 3), ("no", 1)]
    assert len(scan.detections(probs, spans(12), LABELS, min_windows=1)) == 5
    assert [d.label for d in scan.detections(probs, spans(12), LABELS, min_windows=3)] == ["no", "yes", "no"]


def test_low_confidence_windows_are_not_detections():
    probs = one_hot([0, 0, 1], p=0.4)
    assert scan.detections(probs, spans(3), LABELS, min_prob=0.5) == []
    assert len(scan.detections(probs, spans(3), LABELS, min_prob=0.3)) == 2


def test_apps_without_windows_cannot_scan(tmp_path, capsys):
    from apps import get_app

    with pytest.raises(Exception, match="--scan applies to apps that read long recordings"):
        scan.require_scannable(get_app("image"))
    picture = tmp_path / "x.png"
    picture.write_bytes(b"not read")
    assert main(["predict", "image", "--input", str(picture), "--scan"]) == 2
    assert "--scan applies to apps that read long recordings; 'image' does not." in capsys.readouterr().err


def test_min_windows_is_checked_and_belongs_to_scan(tmp_path, capsys):
    recording = tmp_path / "talk.wav"
    recording.write_bytes(b"not read")
    assert main(["predict", "speech", "--input", str(recording), "--scan", "--min-windows", "0"]) == 2
    assert "--min-windows must be 1 or more, got 0." in capsys.readouterr().err
    assert main(["predict", "speech", "--input", str(recording), "--min-windows", "2"]) == 2
    assert "--min-windows does not apply here: they are the detection thresholds of --scan" in (
        capsys.readouterr().err
    )
