#!/usr/bin/env bash
# Every GPU figure the issues ask for, in one run on a lent GPU machine (whose image has torch,
# torchvision, scikit-learn, OpenCV and scikit-image but not this package: it runs from the tree).
# Results go to $OUT (or ./gpu-results). Each step is bounded so one slow step cannot eat the rest.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${OUT:-gpu-results}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
step() {  # step NAME SECONDS COMMAND...: run, log to $out/NAME.txt, go on whatever happens
  local name=$1 limit=$2
  shift 2
  echo "== $name"
  timeout -k 5 "$limit" "$@" 2>&1 | grep -v -i warning | tee "$out/$name.txt"
}
nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader | tee "$out/gpu.txt"
$py -c "import torch, torchvision; print('torch', torch.__version__, 'torchvision', torchvision.__version__)" | tee -a "$out/gpu.txt"
step fast_stylize 120 $py benchmarks/bench_fast.py stylize --device cuda --rounds ${ROUNDS:-10}
step gatys 150 $py benchmarks/bench_gatys.py --device cuda --size 512 --blocks 8 --full
step scales 150 $py benchmarks/bench_scales.py --device cuda --sizes 1024,2048 --steps 20
step fast_train 120 $py benchmarks/bench_fast.py train --device cuda --steps 40 --rounds 2
step tiles 150 $py benchmarks/bench_tiles.py --share --device cuda --size 4096 --tile 1024
