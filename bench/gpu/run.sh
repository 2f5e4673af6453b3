#!/usr/bin/env bash
# Real-GPU readiness run (issues 15 and 16): one command, on a Linux machine with
# an NVIDIA or AMD GPU (or, with --small, on any adapter such as lavapipe):
#
#   1. Vulkan driver: loader, ICDs, the GPU the system reports;
#   2. the WebGPU adapter Deno gets: name, every feature, every limit;
#   3. kernel benchmark `bench --json` (and `bench --peers --json` when present);
#   4. `bench --model --json`: released-size blocks projected to the whole model;
#   5. a random checkpoint written here (`make-checkpoint`, nf4, seeded);
#   6. `dump`: text encoder, both DiTs and the VAE once at 1024², per-stage times,
#      outputs as .npy for step 8;
#   7. end-to-end generation: nf4, 1024², 4 steps of V4_TURBO_12, everything
#      resident (no streaming), per-step times and peak GPU memory; with --memory
#      also one step at --gpu-memory 8, 16 and 24 (streamed / resident), measured
#      peak against the plan;
#   8. with --upstream DIR and PyTorch importable: compare_torch.py (issue 16).
#
# Every result goes to one folder (at most 8 files, as the GPU machine returns):
# summary.json, adapter.json, bench.json, model.json, dump_meta.json,
# compare.json, run.log (+ peers.json). Each step has a time limit; the whole run
# stops starting new steps after --budget seconds (default 450: under 8 minutes).
#
# usage: bench/gpu/run.sh [--small] [--results DIR] [--work DIR] [--upstream DIR]
#                         [--memory] [--budget SECONDS] [--carried]
#   --small      tiny shapes (make-checkpoint --small, 256², short benchmarks)
#   --results    results folder (default $OUT if set, else bench/results/gpu-DATE)
#   --work       scratch folder for the checkpoint and .npy files (default /tmp/ig4-gpu)
#   --upstream   checkout of RyukoMatoiFan/ideogram4 at 415abf4 (PyTorch comparison)
#   --memory     also the --gpu-memory 8/16/24 runs
#   --carried    use the carried Deno of .device/ (source .device/enter.sh; GPU machine)
#   --budget S   stop starting steps after S seconds (default 450)
#   --limit-scale K  multiply every step's time limit by K (a slow or shared machine)
set -uo pipefail
cd "$(dirname "$0")/../.."
SMALL=0 MEMORY=0 CARRIED=0 UPSTREAM="" BUDGET=450 SCALE=1
RESULTS="${OUT:-bench/results/gpu-$(date -u +%Y%m%dT%H%M%S)}"
WORK=/tmp/ig4-gpu
while [ $# -gt 0 ]; do
  case "$1" in
    --small) SMALL=1 ;;
    --memory) MEMORY=1 ;;
    --carried) CARRIED=1 ;;
    --results) RESULTS="$2"; shift ;;
    --work) WORK="$2"; shift ;;
    --upstream) UPSTREAM="$2"; shift ;;
    --budget) BUDGET="$2"; shift ;;
    --limit-scale) SCALE="$2"; shift ;;
    -h|--help) sed -n '2,38p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown flag $1 (--help)" >&2; exit 2 ;;
  esac
  shift
done
mkdir -p "$RESULTS" "$WORK"
LOG="$RESULTS/run.log"
: > "$LOG"
T0=$(date +%s)
log() { echo "[$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOG" >&2; }

# Deno: the carried one on the GPU machine, else deno or npx.
if [ "$CARRIED" = 1 ] || { ! command -v deno >/dev/null && [ -f .device/enter.sh ]; }; then
  # shellcheck disable=SC1091
  source .device/enter.sh
  run_deno() { deno run --config .device/deno.json --no-lock --cached-only -A "$@"; }
elif command -v deno >/dev/null; then
  run_deno() { deno run -A "$@"; }
else
  run_deno() { npx --yes deno@2.9.6 run -A "$@"; }
fi
export NO_COLOR=1 XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

STATUS=()  # "step:rc:seconds"
# step NAME LIMIT_SECONDS CMD...: runs CMD under a time limit unless the budget is spent.
step() {
  local name=$1 limit=$(( $2 * SCALE )); shift 2
  local elapsed=$(( $(date +%s) - T0 ))
  if [ "$elapsed" -ge "$BUDGET" ]; then
    log "skip $name: budget of ${BUDGET}s spent"; STATUS+=("$name:skipped:0"); return 0
  fi
  local left=$(( BUDGET + 30 - elapsed )); [ "$limit" -gt "$left" ] && limit=$left
  log "start $name (limit ${limit}s)"
  local s=$(date +%s)
  timeout -k 5 "$limit" "$@" >>"$LOG" 2>&1
  local rc=$?
  log "end $name: exit $rc in $(( $(date +%s) - s ))s"
  STATUS+=("$name:$rc:$(( $(date +%s) - s ))")
  return 0
}

# 1. Vulkan driver.
driver() {
  echo "== driver"
  uname -a
  ldconfig -p | grep -i libvulkan || echo "no libvulkan in ldconfig (bring the loader: see README, Real GPUs)"
  for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d; do
    [ -d "$d" ] && ls "$d"
  done
  echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
  command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv
  command -v rocm-smi >/dev/null && rocm-smi --showproductname
  command -v vulkaninfo >/dev/null && vulkaninfo --summary 2>/dev/null | head -40
  return 0
}
step driver 30 bash -c "$(declare -f driver); driver"

# 2. Adapter.
step adapter 60 bash -c "$(declare -f run_deno); run_deno bench/gpu/adapter.ts > '$RESULTS/adapter.json'"

# 3. Kernel benchmark (quick sizes on software adapters, chosen by bench itself).
step bench 150 bash -c "$(declare -f run_deno); run_deno bench/main.ts --json > '$RESULTS/bench.json'"
if [ -d bench/peers ]; then
  step peers 150 bash -c "$(declare -f run_deno); run_deno bench/main.ts --peers --json > '$RESULTS/peers.json'"
fi

# 4. Projection from released-size blocks.
if [ "$SMALL" = 1 ]; then MODEL_ARGS=(--small --image-tokens 16 --vae-size 64); else MODEL_ARGS=(); fi
step model 240 bash -c "$(declare -f run_deno); run_deno bench/main.ts --model --json ${MODEL_ARGS[*]} > '$RESULTS/model.json'"

# 5. Random checkpoint.
CK="$WORK/ckpt-nf4$([ "$SMALL" = 1 ] && echo -small)"
if [ ! -f "$CK/README.md" ]; then
  rm -rf "$CK"
  step checkpoint 240 bash -c "$(declare -f run_deno); run_deno cli.ts make-checkpoint --format nf4 --seed 1 --out '$CK' $([ "$SMALL" = 1 ] && echo --small)"
else
  log "checkpoint $CK exists: reused"
fi

# 6. Each component once, outputs for the comparison.
SIZE=1024; [ "$SMALL" = 1 ] && SIZE=256
rm -rf "$WORK/dump"
step dump 240 bash -c "$(declare -f run_deno); run_deno cli.ts dump --model '$CK' --out '$WORK/dump' --width $SIZE --height $SIZE"
[ -f "$WORK/dump/meta.json" ] && cp "$WORK/dump/meta.json" "$RESULTS/dump_meta.json"

# 7. End to end: 4 steps of V4_TURBO_12, everything resident (a budget no plan streams at).
gen() {  # gen TAG GIB STEPS
  run_deno cli.ts generate --model "$CK" --prompt "a lighthouse at dusk, painterly" \
    --width $SIZE --height $SIZE --sampler-preset V4_TURBO_12 --steps "$3" --seed 1 \
    --gpu-memory "$2" --verbose --output "$WORK/e2e-$1.png" 2>&1 |
    while IFS= read -r l; do printf '[e2e %s %s] %s\n' "$1" "$EPOCHREALTIME" "$l"; done
}
step e2e 240 bash -c "$(declare -f run_deno gen); CK='$CK' SIZE=$SIZE WORK='$WORK'; gen resident 1024 4"
if [ "$MEMORY" = 1 ]; then
  for gib in 8 16 24; do
    step "memory-$gib" 120 bash -c "$(declare -f run_deno gen); CK='$CK' SIZE=$SIZE WORK='$WORK'; gen gib$gib $gib 1"
  done
fi

# 8. PyTorch comparison.
if [ -n "$UPSTREAM" ]; then
  if python3 -c "import torch, numpy, safetensors, transformers" 2>/dev/null; then
    step torch 300 python3 bench/gpu/compare_torch.py --upstream "$UPSTREAM" --checkpoint "$CK" \
      --dump "$WORK/dump" --out "$RESULTS/compare.json"
  else
    log "torch comparison skipped: torch, numpy, safetensors or transformers is not importable here"
    STATUS+=("torch:skipped:0")
  fi
else
  log "torch comparison skipped: no --upstream DIR given"
  STATUS+=("torch:skipped:0")
fi

# Summary (read back from the files above).
run_deno bench/gpu/summarize.ts "$RESULTS" "$(( $(date +%s) - T0 ))" "${STATUS[@]}" | tee -a "$LOG"
