"""The arithmetic behind the benches' utilisation and time-to-accuracy figures."""

import sys
from pathlib import Path

import keras

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

import flops  # noqa: E402
import peers  # noqa: E402


def test_forward_flops_counts_conv_and_dense_exactly():
    model = keras.Sequential(
        [
            keras.Input((8, 8, 1)),
            keras.layers.Conv2D(4, 3, padding="same", use_bias=False),  # 64 positions x 9 x 1 x 4
            keras.layers.BatchNormalization(),
            keras.layers.Flatten(),
            keras.layers.Dense(10),  # 256 x 10
        ]
    )
    total, complete = flops.forward_flops(model)
    assert total == 2 * (64 * 9 * 4 + 256 * 10)
    assert complete
    assert flops.train_flops(model)[0] == 3 * total


def test_transposed_convs_count_input_positions_and_open_lengths_are_not_counted():
    up = keras.Sequential(
        [keras.Input((4, 4, 2)), keras.layers.Conv2DTranspose(3, 3, strides=2, padding="same")]
    )
    assert flops.forward_flops(up) == (2 * 16 * 9 * 2 * 3, True)
    seq = keras.Sequential([keras.Input((None, 5)), keras.layers.Dense(2)])
    assert flops.forward_flops(seq) == (0.0, False)


def test_forward_flops_says_when_a_layer_is_not_counted():
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.LSTM(4), keras.layers.Dense(2)])
    total, complete = flops.forward_flops(model)
    assert total == 2 * 4 * 2
    assert not complete


def test_time_to_accuracy_is_the_first_point_that_reaches_it():
    points = [(10.0, 0.80), (20.0, 0.905), (30.0, 0.90), (40.0, 0.91)]
    assert peers.time_to(points, 0.905) == 20.0
    assert peers.time_to(points, 0.91) == 40.0
    assert peers.time_to(points, 0.95) is None
