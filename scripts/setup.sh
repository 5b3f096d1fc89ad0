#!/usr/bin/env bash
# Create or update the project's virtual environment in .venv (idempotent).
#
#   scripts/setup.sh           # .venv with torch (CPU) + the project, editable, [hw,dev]
#   scripts/setup.sh --apt     # also apt-get install iverilog (optional; N2UQ_SETUP_APT=1)
#   scripts/setup.sh --force   # reinstall even if nothing changed (N2UQ_SETUP_FORCE=1)
#
# Environment: PYTHON (interpreter for the venv, default python3), N2UQ_TORCH_INDEX_URL
# (an extra index for torch, e.g. https://download.pytorch.org/whl/cpu on machines whose
# pip would otherwise pick PyPI's multi-GB CUDA build).
#
# pip runs only when pyproject.toml or this script changed since the last good run: a stamp
# in .venv records their hash, so a second run takes well under a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="$ROOT/.venv"
STAMP="$VENV/.n2uq-setup-stamp"
TORCH_PIN="torch==2.13.0"
PYTHON="${PYTHON:-python3}"
APT="${N2UQ_SETUP_APT:-0}"
FORCE="${N2UQ_SETUP_FORCE:-0}"

for arg in "$@"; do
    case "$arg" in
        --apt) APT=1 ;;
        --force) FORCE=1 ;;
        -h|--help) sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "setup: unknown option '$arg' (try --help)" >&2; exit 2 ;;
    esac
done

say() { echo "setup: $*"; }

apt_install() {
    # Optional system packages; never fails the setup.
    if ! command -v apt-get >/dev/null 2>&1; then
        say "apt-get not available; skipping iverilog (optional)"
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
            sudo="sudo -n"
        else
            say "not root and no sudo; skipping iverilog (optional)"
            return 0
        fi
    fi
    if command -v iverilog >/dev/null 2>&1; then
        say "iverilog already installed"
        return 0
    fi
    say "apt-get install iverilog"
    if $sudo apt-get update -qq </dev/null \
        && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq iverilog </dev/null >/dev/null; then
        say "iverilog installed"
    else
        say "warning: apt-get install iverilog failed (optional, continuing)"
    fi
}

hash_inputs() {
    {
        cat pyproject.toml scripts/setup.sh
        "$VENV/bin/python" -c 'import sys; print(sys.version)'
    } | sha256sum | cut -d' ' -f1
}

if [ "$APT" = 1 ]; then apt_install; fi

for tool in c++ make perl; do
    command -v "$tool" >/dev/null 2>&1 \
        || say "warning: '$tool' not found; Verilator needs it (apt-get install g++ make perl)"
done

if [ ! -x "$VENV/bin/python" ]; then
    say "creating .venv with $("$PYTHON" --version 2>&1)"
    if ! "$PYTHON" -m venv "$VENV"; then
        echo "setup: error: '$PYTHON -m venv' failed (on Debian/Ubuntu: apt-get install python3-venv)" >&2
        exit 1
    fi
fi

WANT="$(hash_inputs)"
if [ "$FORCE" != 1 ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ]; then
    say ".venv up to date"
    exit 0
fi
rm -f "$STAMP"

PIP=("$VENV/bin/python" -m pip -qq --disable-pip-version-check)
say "upgrading pip"
"${PIP[@]}" install --upgrade pip
# torch first and pinned: a bare 'torch' (or 'torch>=2.2' with nothing installed) would pull
# a CUDA build of several GB. The pinned CPU wheel is found by pip's configured find-links.
TORCH_ARGS=()
if [ -n "${N2UQ_TORCH_INDEX_URL:-}" ]; then
    TORCH_ARGS=(--extra-index-url "$N2UQ_TORCH_INDEX_URL")
fi
say "installing $TORCH_PIN"
"${PIP[@]}" install "${TORCH_ARGS[@]}" "$TORCH_PIN"
say "installing n2uq-hw (editable) with [hw,dev]"
"${PIP[@]}" install -e '.[hw,dev]'
"$VENV/bin/python" -c 'import torch, amaranth, cocotb, sim, n2uq_hw' \
    || { echo "setup: error: the new .venv cannot import the project" >&2; exit 1; }
hash_inputs >"$STAMP"
say "done ($("$VENV/bin/python" -c 'import torch; print("torch", torch.__version__)'))"
