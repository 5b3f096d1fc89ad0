"""Training: loss goes down, resume is exact, DDP on CPU, and bad input gets one line."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from n2uq_hw.checkpoint import load_checkpoint
from n2uq_hw.synthetic import write_synthetic_imagefolder
from n2uq_hw.train import TrainConfig, train

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Path:
    return write_synthetic_imagefolder(tmp_path_factory.mktemp("data"), classes=4, per_class=24,
                                       val_per_class=6, seed=1)


def cfg(model: str, data: Path, out: Path, **kw) -> TrainConfig:
    base = {"batch_size": 16, "val_size": 0, "device": "cpu", "progress": False, "workers": 0}
    base.update(kw)
    return TrainConfig(model=model, data=str(data), out=str(out), **base)


@pytest.fixture(scope="module")
def fp_ckpt(data, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("fp")
    train(cfg("smallcnn_fp", data, out, epochs=2, lr=3e-3))
    return out / "last.pt"


def test_tiny_training_lowers_the_loss(data, fp_ckpt, tmp_path):
    s = train(cfg("smallcnn_w2a2", data, tmp_path, epochs=3, lr=5e-3, init=str(fp_ckpt)))
    hist = load_checkpoint(tmp_path / "last.pt")["history"]
    assert hist[-1]["train_loss"] < hist[0]["train_loss"]
    assert s["finished"] and s["epochs_done"] == 3
    assert json.loads((tmp_path / "summary.json").read_text())["model"] == "smallcnn_w2a2"
    assert (tmp_path / "best.pt").is_file()


@pytest.mark.parametrize("model", ["smallcnn_w2a2", "smallcnn_w2a2_lsq"])
def test_resume_reproduces_the_uninterrupted_run(data, fp_ckpt, tmp_path, model):
    common = {"epochs": 3, "lr": 4e-3, "init": str(fp_ckpt), "teacher": str(fp_ckpt)}
    train(cfg(model, data, tmp_path / "full", **common))
    train(cfg(model, data, tmp_path / "split", stop_after_epoch=1, **common))
    assert load_checkpoint(tmp_path / "split" / "last.pt")["epoch"] == 1
    train(cfg(model, data, tmp_path / "split", resume=True, **common))
    a = load_checkpoint(tmp_path / "full" / "last.pt")
    b = load_checkpoint(tmp_path / "split" / "last.pt")
    assert a["epoch"] == b["epoch"] == 3
    for key, value in a["state_dict"].items():
        assert torch.equal(value, b["state_dict"][key]), key
    for x, y in zip(a["history"], b["history"], strict=True):
        for key in ("train_loss", "train_acc", "val_loss", "val_acc", "lr"):
            assert x[key] == y[key], key


def test_init_reports_and_checks_keys(data, fp_ckpt, tmp_path, capsys):
    train(cfg("smallcnn_w2a2", data, tmp_path, epochs=1, init=str(fp_ckpt)))
    err = capsys.readouterr().err
    assert "initialised" in err and "quantizer tensors keep their initial values" in err


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "n2uq_hw.train", "--device", "cpu",
                           "--no-progress", *args], cwd=cwd, env=env, capture_output=True, check=False,
                          text=True, timeout=300)


def assert_one_line_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode != 0
    lines = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert len(lines) >= 1 and lines[-1].startswith("error: ") and needle in lines[-1], proc.stderr


def test_bad_inputs_get_one_clear_line(data, fp_ckpt, tmp_path):
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"this is not a checkpoint")
    other = tmp_path / "other"
    train(cfg("smallcnn_w3a3", data, other, epochs=1))
    no_train = tmp_path / "empty_root"
    no_train.mkdir()
    cases = [
        (["--model", "resnet19_w2a2", "--data", str(data)], "unknown model"),
        (["--model", "resnet20_w5a5", "--data", str(data)], "out of range"),
        (["--model", "smallcnn_w2a2", "--data", str(tmp_path / "missing")], "does not exist"),
        (["--model", "smallcnn_w2a2", "--data", str(no_train)], "train"),
        (["--model", "smallcnn_w2a2", "--data", str(data), "--init", str(corrupt),
          "--out", str(tmp_path / "r1")], "corrupt"),
        (["--model", "smallcnn_w2a2", "--data", str(data), "--init", str(other / "last.pt"),
          "--out", str(tmp_path / "r2")], "shape mismatch: unit1.quant.a"),
        (["--model", "resnet20_w2a2", "--data", str(data), "--init", str(fp_ckpt),
          "--out", str(tmp_path / "r3")], "does not match the model"),
        (["--model", "smallcnn_w2a2", "--resume", "--out", str(other)], "is for model"),
        (["--model", "smallcnn_w3a3", "--data", str(data), "--out", str(other)], "already holds"),
        (["--model", "smallcnn_w3a3", "--resume", "--out", str(other), "--lr", "0.5"], "differs"),
        (["--model", "smallcnn_w2a2", "--data", str(data), "--epochs", "0"], "--epochs"),
    ]
    for args, needle in cases:
        proc = run_cli(*args, cwd=tmp_path)
        assert_one_line_error(proc, needle)
    assert not any((tmp_path / f"r{i}").exists() for i in (1, 2, 3))


def test_torchrun_two_cpu_processes(data, tmp_path):
    env = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1")
    proc = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2",
         "--master_port", "29561", "-m", "n2uq_hw.train", "--device", "cpu", "--no-progress",
         "--model", "smallcnn_w2a2", "--data", str(data), "--out", str(tmp_path / "ddp"),
         "--epochs", "1", "--batch-size", "16", "--val-size", "0"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "ddp" / "summary.json").read_text())
    assert summary["world_size"] == 2 and summary["finished"]
    assert load_checkpoint(tmp_path / "ddp" / "last.pt")["epoch"] == 1
