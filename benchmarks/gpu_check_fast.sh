#!/usr/bin/env bash
# GPU check of the fast-style paths (issue 5): guided training and compiled stylising through the
# CLI on CUDA, then the speed comparison. Run on a lent GPU machine from the repository root.
set -uo pipefail
out=${OUT:-gpu-results}
mkdir -p "$out"
export PYTHONPATH=$PWD PYTHONUNBUFFERED=1
py=${PYTHON:-python3}
tmp=$(mktemp -d)
steps=${STEPS:-30}
for name in astronaut chelsea coffee ihc; do $py -m pipeline -q sample $name "$tmp/$name.png"; done
mkdir -p "$tmp/data" && mv "$tmp"/{astronaut,chelsea,coffee}.png "$tmp/data/"
timeout -k 5 200 $py -m pipeline train --style "$tmp/ihc.png" --style-mask masks/style/ihc.png \
  --colors subject=#e6194b,background=#4363d8 --data "$tmp/data" --masks masks/content --out "$tmp/g.pth" \
  --steps "$steps" --size ${SIZE:-256} --weights random --checkpoint-every 10 2>&1 | tail -3
grep -o '"images_per_second": [0-9.]*\|"precision": "[a-z0-9]*"\|"device": "[a-z:0-9]*"' "$tmp/g.pth.json"
timeout -k 5 120 $py -m pipeline stylize --model "$tmp/g.pth" --content "$tmp/data/astronaut.png" \
  --mask masks/content/astronaut.png --out "$out/guided.png" --compile && cat "$out/guided.png.json"
cp "$tmp/g.loss.png" "$out/" 2>/dev/null
timeout -k 5 200 $py benchmarks/bench_fast.py stylize --device ${DEVICE:-cuda} --rounds ${ROUNDS:-10} \
  --size ${BENCH_SIZE:-1024} --batch ${BATCH:-8} 2>&1 | grep -v -i warning
