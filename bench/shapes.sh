#!/usr/bin/env bash
# The real-shape speed benchmark (architecture.md 7): writes the Q4_K_M-recipe models of ShapeModels.cs into a
# temporary folder (never committed), then runs native llama-bench and SelfSpec on each file in turn, ROUNDS times,
# each in a fresh process, so neither engine is timed while the other runs and drift hits both alike.
# usage: bench/shapes.sh [DIR] [ROUNDS] [THREADS]   (needs a Release build of bench/SelfSpec.Kernels.Bench)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-$(mktemp -d /tmp/selfspec-shapes.XXXXXX)}
rounds=${2:-2}
threads=${3:-2}
llama=${LLAMA_BENCH:-/work/llamacpp/src/build/bin/llama-bench}
bin=$(mktemp -d /tmp/selfspec-shapes-bin.XXXXXX)
cp -r "$root/bench/SelfSpec.Kernels.Bench/bin/Release/net10.0/." "$bin/"   # a rebuild during the run does not change what runs
bench="dotnet $bin/SelfSpec.Kernels.Bench.dll"
$bench shapes write "$dir"
for round in $(seq 1 "$rounds"); do
  for f in "$dir"/*.gguf; do
    echo "== round $round $(basename "$f") load $(cut -d' ' -f1-3 /proc/loadavg)"
    "$llama" -m "$f" -t "$threads" -p 64 -n 64 -r 2 2>/dev/null | grep -E 'pp64|tg64' | sed "s/^/native /"
    $bench shapes run "$f" --threads "$threads" --reps 2
  done
done
