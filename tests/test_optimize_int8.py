"""int8 debugger: rows keyed by real Keras layer names; --keep-float changes the file. CLI errors."""

import dataclasses

import pytest

from apps.cli import main
from apps.image import APP
from apps.optimize import int8_debug


def test_tensor_names_map_to_top_level_keras_layers():
    order = ["image", "block1_1_conv", "block1_1_bn", "block1_1_relu", "bilstm", "probs"]
    owner = {name: name for name in order} | {"forward_lstm": "bilstm", "lstm_cell": "bilstm"}
    fused = (
        "fashion_cnn_1/block1_1_relu_1/Relu;fashion_cnn_1/block1_1_bn_1/batchnorm/add_1;"
        "fashion_cnn_1/block1_1_conv_1/convolution"
    )
    assert int8_debug.map_tensor(fused, order, owner) == ["block1_1_conv", "block1_1_bn", "block1_1_relu"]
    assert int8_debug.map_tensor("m_1/bilstm_1/forward_lstm_1/lstm_cell/MatMul", order, owner) == ["bilstm"]
    assert int8_debug.map_tensor("StatefulPartitionedCall_1:0", order, owner) == []


def test_a_wrapped_trained_model_is_indexed_by_its_own_layers():
    """Export wraps speech's model behind its front-end; rows must still name conv_in, not ds_cnn."""
    import keras

    inner_in = keras.Input((4,), name="features")
    inner = keras.Model(
        inner_in, keras.layers.Dense(3, name="probs")(keras.layers.Dense(5, name="hidden")(inner_in))
    )
    signal = keras.Input((8,), name="signal")
    wrapped = keras.Model(signal, inner(keras.layers.Dense(4, name="frontend")(signal)))
    order, owner = int8_debug.keras_layer_index(wrapped)
    assert order == ["frontend", "hidden", "probs"]
    assert int8_debug.map_tensor("w_1/functional_1/hidden_1/MatMul", order, owner) == ["hidden"]
    assert int8_debug._output_layer(wrapped) == "probs"


# ~12 s: in the slow set (CI runs it) to keep `make test` under 10 min on 2 cores.
@pytest.mark.slow
def test_debugger_rows_are_keras_layers_and_keep_float_changes_the_file(image_cfg, tmp_path):
    from apps.train import train

    cfg = dataclasses.replace(image_cfg, filters=4, dense_units=8)
    models = tmp_path / "models"
    folder = train(APP, cfg, models, verbose=0)
    report = int8_debug.int8_debug(APP, models, keep_float=1, debug_examples=8, latency_runs=5)

    names = {layer.name for layer in APP.build(cfg).layers}
    assert report["layers"], "no quantized layer reported"
    for layer in report["layers"]:
        assert layer["mapped_by"] != "unmapped", layer
        assert set(layer["keras_layer"].split(" + ")) <= names, layer["keras_layer"]
    errors = [layer["rmse_over_scale"] for layer in report["layers"]]
    assert errors == sorted(errors, reverse=True)
    assert "block1_1_conv + block1_1_bn + block1_1_relu" in {
        layer["keras_layer"] for layer in report["layers"]
    }

    files = report["files"]
    assert set(files) == {"float32", "int8", "int8-keep-float-1"}
    assert report["keep_float"] == [report["layers"][0]["keras_layer"]]
    assert files["int8"]["float_ops"] == 0 and files["int8-keep-float-1"]["float_ops"] >= 1
    out = folder / "optimized" / "int8-debug"
    full, selective = (out / "tflite" / "int8.tflite").read_bytes(), (out / "tflite/int8-keep-float-1.tflite")
    assert selective.read_bytes() != full
    assert files["int8"]["size_bytes"] < files["float32"]["size_bytes"]
    assert all(0.0 <= row["accuracy"] <= 1.0 for row in files.values())
    assert (out / "report.json").is_file() and not (out / "layers.json").exists()
    assert "Keras layer" in int8_debug.layer_table(report).markdown()
    assert "int8-keep-float-1" in int8_debug.tradeoff_table(report).text()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["optimize", "image", "--prune", "0.95"], "between 0.5 and 0.9"),
        (["optimize", "image", "--prune", "0.2,0.8"], "between 0.5 and 0.9"),
        (["optimize", "vae", "--distill"], "classifiers only"),
        (["optimize", "image", "--prune", "0.8", "--keep-float", "2"], "--keep-float applies"),
        (["optimize", "image", "--int8-debug", "--student", "filters=2"], "apply to --distill"),
    ],
)
def test_cli_rejects_bad_requests_clearly(argv, message, capsys):
    assert main(argv) == 2
    assert message in capsys.readouterr().err
