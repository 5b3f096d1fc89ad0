"""``python -m n2uq_hw lower``: calibration sources, profiles, one-line errors."""

import json

import pytest

from n2uq_hw.__main__ import main
from n2uq_hw.errors import N2UQError
from n2uq_hw.synthetic import write_synthetic_imagefolder


def test_calibrates_from_a_large_image_folder(tmp_path):
    """ImageNet-style data (images larger than the 64-pixel in-memory limit) is decoded and
    center-cropped on demand for calibration."""
    data = write_synthetic_imagefolder(tmp_path / "data", classes=2, per_class=3, size=96)
    out = tmp_path / "ir"
    assert main(["lower", "--model", "resnet18_w2a2", "--calib", str(data), "--images", "3",
                 "-o", str(out)]) == 0
    meta = json.loads((out / "graph.json").read_text())["meta"]
    assert meta["calibration"] == f"first 3 train images of {data}"
    assert json.loads((out / "graph.json").read_text())["nodes"][0]["type"]["shape"] == [
        3, 224, 224]


def test_precise_profile_sets_the_first_conv_and_stream(tmp_path):
    out = tmp_path / "ir"
    assert main(["lower", "--model", "smallcnn_w2a2", "--precise", "--images", "2",
                 "-o", str(out)]) == 0
    g = json.loads((out / "graph.json").read_text())
    assert (g["meta"]["stem_bits"], g["meta"]["input_shift"], g["meta"]["residual_bits"]) == (
        24, 8, 32)
    stem = next(n for n in g["nodes"] if n["op"] == "conv2d")
    assert stem["attrs"]["weight_format"] == "int24" and stem["attrs"]["input_shift"] == 8
    # an explicit option wins over the profile
    assert main(["lower", "--model", "smallcnn_w2a2", "--precise", "--residual-bits", "24",
                 "--images", "2", "-o", str(out)]) == 0
    assert json.loads((out / "graph.json").read_text())["meta"]["residual_bits"] == 24


def test_unknown_calibration_data_is_one_error(tmp_path):
    with pytest.raises(N2UQError):
        main(["lower", "--model", "smallcnn_w2a2", "--calib", str(tmp_path / "nope"),
              "-o", str(tmp_path / "ir")])
    assert not (tmp_path / "ir").exists()
