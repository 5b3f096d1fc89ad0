#!/usr/bin/env bash
# One GPU session for issue 2: (a) training step time of FP, N2UQ (fused Triton kernels and
# the earlier versions), LSQ and DoReFa; (b) the W2A2 comparison at --q-epochs EPOCHS from
# the stored FP teacher, several seeds per method in parallel. Everything it writes goes to
# $OUT (session.log, step_time.json, bench/{results.json,results.md,progress.jsonl,
# step_time.json,runs.tgz}); progress.jsonl gets a line as each run ends, and runs still going
# at the deadline are stopped with their per-epoch validation accuracies recorded.
#
#   OUT=/tmp/out bash bench/gpu_session.sh           # on the GPU machine, from the repo root
#
# Settings (environment): BUDGET (seconds for the whole script, default 500), EPOCHS (20),
# SEEDS (per method; default: the most of 3, 2, 1 that the plan below fits in BUDGET),
# STEP_JSON (skip (a) and reuse that step_time.json), DATA (.devdata/cifar10-train-jpg.tgz),
# PY (python3), WORK (/tmp/n2uq_bench), STEP_ARGS and BENCH_ARGS (extra arguments, e.g. for
# a CPU dry run with a tiny data set).
set -u
OUT=${OUT:?set OUT to the output folder}
BUDGET=${BUDGET:-500}
EPOCHS=${EPOCHS:-20}
DATA=${DATA:-.devdata/cifar10-train-jpg.tgz}
PY=${PY:-python3}
WORK=${WORK:-/tmp/n2uq_bench}
STEP_ARGS=${STEP_ARGS:---batch-size 256 --steps 30 --warmup 5}
BENCH_ARGS=${BENCH_ARGS:-}
T0=$(date +%s)
mkdir -p "$OUT/bench"
export PYTHONUNBUFFERED=1
elapsed() { echo $(( $(date +%s) - T0 )); }

main() {
    echo "== machine"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.sm,clocks.max.sm \
        --format=csv 2>&1 | head -3
    nproc
    "$PY" -c "import torch; print('torch', torch.__version__, torch.cuda.is_available())"
    "$PY" -c "import triton; print('triton', triton.__version__)" 2>&1 | tail -1
    test -f "$DATA" || { echo "missing $DATA"; exit 3; }

    if [ -n "${STEP_JSON:-}" ]; then  # reuse earlier timings (and engine checks)
        echo "== (a) step time: reusing $STEP_JSON"
        cp "$STEP_JSON" "$OUT/step_time.json"
    else
        echo "== (a) step time, t=$(elapsed) s"
        # shellcheck disable=SC2086
        timeout $(( BUDGET / 3 )) "$PY" bench/step_time.py --model resnet20 $STEP_ARGS \
            --json "$OUT/step_time.json"
        echo "step_time exit $?, t=$(elapsed) s"
    fi
    local st_args=()
    if [ -f "$OUT/step_time.json" ]; then
        st_args=(--step-time-json "$OUT/step_time.json")
    else  # no timings: train on the previous engines, the bench measures again
        echo "no step_time.json: training with N2UQ_LTQ_ENGINE=triton_v1 N2UQ_WQ_ENGINE=torch"
        export N2UQ_LTQ_ENGINE=triton_v1 N2UQ_WQ_ENGINE=torch
    fi

    local left=$(( BUDGET - $(elapsed) ))
    local seeds=${SEEDS:-}
    if [ -z "$seeds" ]; then
        # Calibration (H200, 2026-11-27, bench/results/run2): with 9 runs at once the
        # slowest run (LSQ) trained 1,617 images/s, i.e. ~14,500 images/s shared by all runs;
        # assume that total whatever the number of runs, plus 1 s of validation per epoch
        # and 30 s of start-up. Take the most seeds (3, 2, 1) whose runs fit in the time left.
        seeds=$("$PY" - "$EPOCHS" "$left" <<'EOF'
import sys
epochs, left = int(sys.argv[1]), float(sys.argv[2])
need = {s: epochs * (45000 * 3 * s / 14500 + 1.0) + 30 for s in (3, 2, 1)}
fit = [s for s in (3, 2, 1) if need[s] < 0.95 * left]
print(fit[0] if fit else 1)
print(f"plan: predicted {', '.join(f'{s} seeds {need[s]:.0f} s' for s in need)}; "
      f"{left:.0f} s left" + ("" if fit else "; none fits, the deadline will stop the runs"),
      file=sys.stderr)
EOF
)
    fi
    echo "== (b) ${seeds} seeds x 3 methods x ${EPOCHS} epochs, t=$(elapsed) s, ${left} s left"
    # stop unfinished runs 25 s before the budget ends, leaving time for the tables
    # shellcheck disable=SC2086
    timeout $(( left + 10 )) "$PY" bench/cifar_resnet20.py --data "$DATA" --out "$OUT/bench" \
        --work "$WORK" --q-epochs "$EPOCHS" \
        --fp-checkpoint bench/results/run1/resnet20_fp.pt "${st_args[@]}" \
        --seeds "$seeds" --parallel $(( 3 * seeds )) --deadline $(( left - 25 )) $BENCH_ARGS
    echo "cifar_resnet20 exit $?, t=$(elapsed) s"
    if [ ! -f "$OUT/bench/runs.tgz" ]; then  # cut off: keep whatever the runs logged
        tar -czf "$OUT/bench/runs.tgz" -C "$WORK" \
            --exclude='*.pt' . 2>/dev/null || true
    fi
    echo "== done, t=$(elapsed) s"
}

main 2>&1 | tee "$OUT/session.log"
