"""CIFAR-10 ResNet-20: FP teacher, then W2A2 with N2UQ, LSQ and DoReFa over several seeds.

All quantized runs start from the same FP checkpoint, distil from it, and get the same
epoch budget and recipe (the paper's: Adam, linear decay, quantizer lr/10, no weight
decay). Validation is the trainer's seeded 5,000-image hold-out of the 50,000 training
images. With ``--budget`` the quantized epoch count is chosen from measured step times
so the whole job fits; the chosen budget is part of the result. Writes results.json,
results.md, step_time.json and runs.tgz (logs, summaries, FP and seed-0 N2UQ checkpoints)
to --out.

    python bench/cifar_resnet20.py --data ../shared/data/cifar10-train-jpg.tgz --out OUT
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import step_time

METHODS = {"n2uq": "resnet20_w2a2", "lsq": "resnet20_w2a2_lsq", "dorefa": "resnet20_w2a2_dorefa"}
STEP_KEY = {"n2uq": "n2uq_fused", "lsq": "lsq", "dorefa": "dorefa"}


def trainer(args: list[str], log: Path) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", OMP_NUM_THREADS="2")
    with open(log, "w") as f:
        return subprocess.Popen([sys.executable, "-m", "n2uq_hw.train", "--no-progress", *args],
                                stdout=f, stderr=subprocess.STDOUT, env=env, cwd=ROOT)


def wait_all(procs: list[tuple[str, subprocess.Popen, Path]]) -> None:
    for name, proc, log in procs:
        if proc.wait() != 0:
            tail = log.read_text()[-3000:]
            raise SystemExit(f"run {name} failed:\n{tail}")


def spread(values: list[float]) -> dict:
    return {"mean": statistics.mean(values), "std": statistics.stdev(values) if len(values) > 1
            else 0.0, "min": min(values), "max": max(values), "n": len(values), "all": values}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--work", default="/tmp/n2uq_bench")
    p.add_argument("--device", default="cuda")
    p.add_argument("--batch-size", type=int, default=256)
    p.add_argument("--val-size", type=int, default=5000)
    p.add_argument("--train-size", type=int, default=50000, help="images in the data set")
    p.add_argument("--fp-epochs", type=int, default=30)
    p.add_argument("--q-epochs", type=int, help="quantized epochs (default: fit --budget)")
    p.add_argument("--budget", type=float, default=480, help="seconds for the whole job")
    p.add_argument("--max-q-epochs", type=int, default=60)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--parallel", type=int, default=9, help="quantized runs at once")
    p.add_argument("--step-steps", type=int, default=20, help="timed steps per variant")
    p.add_argument("--fp-checkpoint", help="reuse this FP teacher instead of training one")
    p.add_argument("--step-time-json", help="reuse these step times instead of measuring")
    p.add_argument("--deadline", type=float, help="seconds after the start at which unfinished "
                   "quantized runs are stopped (their per-epoch logs are kept)")
    a = p.parse_args()
    start = time.time()
    out, work = Path(a.out), Path(a.work)
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    import torch

    device = torch.device(a.device)
    if a.step_time_json:
        st = json.loads(Path(a.step_time_json).read_text())
        st["reused_from"] = a.step_time_json
        engines = st.get("engine_check", {})
    else:
        st, engines = measure_steps(a, device)
    (out / "step_time.json").write_text(json.dumps(st, indent=2) + "\n")
    print("step time (ms):", json.dumps(st["ms_per_step"]), flush=True)
    fallback = step_time.engine_env(engines)
    if fallback:  # trainers inherit it
        os.environ.update(fallback)
        print(f"a Triton engine check failed: training with {fallback}", flush=True)
    st["training_engine_env"] = fallback
    run_all(a, st, out, work, start)


def measure_steps(a: argparse.Namespace, device) -> tuple[dict, dict]:
    engines = step_time.check_engines(device) if device.type == "cuda" else {}
    print("engine checks:", json.dumps(engines), flush=True)
    st = step_time.measure("resnet20", a.batch_size, device, 5, a.step_steps,
                           step_time.engine_env(engines))
    st["engine_check"] = engines
    return st, engines


def epoch_log(run_dir: Path) -> list[dict]:
    """The per-epoch records a run has written so far (empty if none)."""
    log = run_dir / "log.jsonl"
    if not log.is_file():
        return []
    return [json.loads(line) for line in log.read_text().splitlines() if line.strip()]


def run_all(a: argparse.Namespace, st: dict, out: Path, work: Path, start: float) -> None:

    steps_per_epoch = (a.train_size - a.val_size) // a.batch_size
    fp_dir = work / "fp"
    common = ["--data", a.data, "--batch-size", str(a.batch_size), "--device", a.device,
              "--val-size", str(a.val_size), "--split-seed", "0"]
    fp_args = ["--model", "resnet20_fp", "--out", str(fp_dir), "--epochs", str(a.fp_epochs),
               "--optimizer", "sgd", "--lr", "0.1", "--weight-decay", "5e-4",
               "--schedule", "cosine", "--warmup-epochs", str(int(a.fp_epochs > 2)), *common]
    t0 = time.time()
    if a.fp_checkpoint:
        import shutil

        import torch

        fp_dir.mkdir(parents=True, exist_ok=True)
        shutil.copy(a.fp_checkpoint, fp_dir / "last.pt")
        ck = torch.load(fp_dir / "last.pt", map_location="cpu", weights_only=True)
        h = ck["history"]
        fp_summary = {"best_val_acc": ck["best_acc"], "final_val_acc": h[-1]["val_acc"],
                      "train_images_per_s": h[-1]["train_images_per_s"], "reused": True}
        fp_seconds = sum(r["epoch_seconds"] for r in h)
        a.fp_epochs = ck["epoch"]
    else:
        wait_all([("fp", trainer(fp_args, work / "fp.log"), work / "fp.log")])
        fp_seconds = time.time() - t0
        fp_summary = json.loads((fp_dir / "summary.json").read_text())
    print(f"FP teacher: {fp_summary['best_val_acc']:.2f}% in {fp_seconds:.0f} s", flush=True)

    runs = [(m, s) for s in range(a.seeds) for m in METHODS]
    if a.q_epochs:
        q_epochs = a.q_epochs
    else:  # assume no speed-up from running in parallel: sum of all runs must fit
        left = a.budget - (time.time() - start) - 30
        per_epoch = sum(st["ms_per_step"][STEP_KEY[m]] for m, _ in runs) / 1000 * steps_per_epoch
        q_epochs = max(1, min(a.max_q_epochs, int(left / (per_epoch * 1.3))))
    print(f"quantized runs: {len(runs)} x {q_epochs} epochs", flush=True)
    teacher = str(fp_dir / "last.pt")
    t0 = time.time()
    pending = list(runs)
    active: list[tuple[str, subprocess.Popen, Path]] = []
    stopped: list[str] = []
    while pending or active:
        if a.deadline and time.time() - start > a.deadline:
            for name, proc, _ in active:
                proc.terminate()
            for name, proc, _ in active:
                proc.wait()
                stopped.append(name)
                hist = epoch_log(work / name)
                with open(out / "progress.jsonl", "a") as f:
                    f.write(json.dumps({"run": name, "status": "stopped at the deadline",
                                        "epochs_done": len(hist),
                                        "val_acc_per_epoch": [r["val_acc"] for r in hist],
                                        "t": round(time.time() - start)}) + "\n")
            stopped += [f"{m}_seed{s}" for m, s in pending]
            pending, active = [], []
            break
        while pending and len(active) < a.parallel:
            m, s = pending.pop(0)
            name = f"{m}_seed{s}"
            args = ["--model", METHODS[m], "--out", str(work / name), "--epochs", str(q_epochs),
                    "--seed", str(s), "--init", teacher, "--teacher", teacher, *common]
            active.append((name, trainer(args, work / f"{name}.log"), work / f"{name}.log"))
        time.sleep(2)
        done = [r for r in active if r[1].poll() is not None]
        for name, proc, log in done:
            status = "ok" if proc.returncode == 0 else f"failed: {log.read_text()[-800:]}"
            summary_file = work / name / "summary.json"
            metrics = {}
            if summary_file.is_file():  # keep each result even if the job is cut off later
                sm = json.loads(summary_file.read_text())
                metrics = {k: sm[k] for k in ("final_val_acc", "best_val_acc",
                                              "train_images_per_s", "wall_seconds")}
                metrics["val_acc_per_epoch"] = [r["val_acc"] for r in epoch_log(work / name)]
            with open(out / "progress.jsonl", "a") as f:
                f.write(json.dumps({"run": name, "status": status, **metrics,
                                    "t": round(time.time() - start)}) + "\n")
        active = [r for r in active if r not in done]
    q_seconds = time.time() - t0

    results = {"fp": {"best_val_acc": fp_summary["best_val_acc"],
                      "final_val_acc": fp_summary["final_val_acc"], "epochs": a.fp_epochs,
                      "seconds": fp_seconds,
                      "train_images_per_s": fp_summary["train_images_per_s"]},
               "q_epochs": q_epochs, "q_seconds": q_seconds, "batch_size": a.batch_size,
               "device": st["device_name"], "torch": st["torch"], "seeds": a.seeds,
               "parallel": a.parallel, "stopped_at_deadline": stopped,
               "engine_env": {k: os.environ[k] for k in step_time.ENGINE_VARS
                              if k in os.environ}, "methods": {}}
    for m in METHODS:
        files = [work / f"{m}_seed{s}" / "summary.json" for s in range(a.seeds)
                 if f"{m}_seed{s}" not in stopped]
        sums = [json.loads(f.read_text()) for f in files if f.is_file()]
        if not sums:
            continue
        results["methods"][m] = {
            "final_val_acc": spread([x["final_val_acc"] for x in sums]),
            "best_val_acc": spread([x["best_val_acc"] for x in sums]),
            "train_images_per_s": spread([x["train_images_per_s"] for x in sums]),
        }
    results["step_time"] = st
    (out / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    lines = [(f"FP ResNet-20: {results['fp']['final_val_acc']:.2f}% final "
             f"({a.fp_epochs} epochs SGD, {fp_seconds:.0f} s)"),
             f"W2A2, {q_epochs} epochs from the FP checkpoint with KD, seeds 0..{a.seeds - 1}:",
             "| method | final val top-1 mean ± std | min | max |", "| --- | --- | --- | --- |"]
    for m, r in results["methods"].items():
        f = r["final_val_acc"]
        lines.append(f"| {m} | {f['mean']:.2f} ± {f['std']:.2f} | {f['min']:.2f} | {f['max']:.2f} |")
    (out / "results.md").write_text("\n".join(lines) + "\n")
    with tarfile.open(out / "runs.tgz", "w:gz") as tar:
        for path in sorted(work.rglob("*")):
            keep = path.suffix in (".log", ".json", ".jsonl") or (
                path.name == "last.pt" and path.parent.name in ("fp", "n2uq_seed0"))
            if path.is_file() and keep:
                tar.add(path, arcname=str(path.relative_to(work)))
    print("\n".join(lines))
    print(f"total {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
