#!/usr/bin/env bash
# Fresh-process decode against native llama.cpp (architecture.md 7): each round runs native llama-bench tg128 and a
# fresh `selfspec generate` (default runtime settings, as a user runs it) of 128 greedy tokens on the same file and
# threads, alternating, so drift hits both alike; prints each round's ratio and the median.
# usage: bench/fresh.sh MODEL.gguf [ROUNDS] [THREADS] [METHOD]   (needs a Release build of src/SelfSpec.Cli)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
model=$1
rounds=${2:-6}
threads=${3:-2}
method=${4:-ar}
llama=${LLAMA_BENCH:-/work/llamacpp/src/build/bin/llama-bench}
cli="dotnet $root/src/SelfSpec.Cli/bin/Release/net10.0/SelfSpec.Cli.dll"
prompt=${PROMPT:-"Write a long story about a dragon who learns to code."}   # one that runs past 128 tokens (generate has no option to ignore the end of text)
ratios=()
for round in $(seq 1 "$rounds"); do
  native=$("$llama" -m "$model" -t "$threads" -p 0 -n 128 -r 2 -o csv 2>/dev/null | tail -1 | awk -F, '{gsub(/"/, "", $(NF-1)); print $(NF-1)}')
  ours=$($cli generate --model "$model" --prompt "$prompt" --max-tokens 128 --method "$method" --sidecar none --json -t "$threads" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["stats"]["decode_tokens_per_s"])')
  if [ "$(python3 -c "print(int(float('$ours') > 0))")" != 1 ]; then echo "selfspec generated nothing (end of text at once): choose another prompt" >&2; exit 1; fi
  ratio=$(python3 -c "print(f'{$ours / $native:.3f}')")
  ratios+=("$ratio")
  echo "round $round: native tg128 $native tok/s, selfspec $method $ours tok/s, ratio $ratio (load $(cut -d' ' -f1 /proc/loadavg))"
done
python3 -c "import statistics,sys; print('median ratio', statistics.median(map(float, sys.argv[1:])))" "${ratios[@]}"
