#!/usr/bin/env bash
# Issue 16 on the lent NVIDIA H200 (README, "Real GPUs"): the whole of
# bench/gpu/run.sh at released sizes with the PyTorch comparison and the
# --gpu-memory 8/16/24 runs, in one call of under 8 minutes, with the carried
# Deno and Vulkan loaders (.device/, written by ../shared/tools/device-prep.sh)
# and upstream's code carried in an ignored folder (default .device/upstream:
# `git -C <mirror> archive 415abf4 src | tar -x -C .device/upstream`).
# Results go to $OUT (the device tool returns that folder), else bench/results/.
#
#   on the GPU machine:  bash bench/gpu/h200.sh [UPSTREAM_DIR] [run.sh flags…]
#   anywhere, smoke test: bash bench/gpu/h200.sh UPSTREAM_DIR --small
set -uo pipefail
cd "$(dirname "$0")/../.."
UP=${1:-.device/upstream}
[ $# -gt 0 ] && shift
carried=()
[ -f .device/enter.sh ] && carried=(--carried)
exec bench/gpu/run.sh "${carried[@]}" --memory --upstream "$UP" --budget 420 "$@"
