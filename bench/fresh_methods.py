#!/usr/bin/env python3
"""Speed-up over `ar` in fresh processes, as `selfspec generate` users get it (architecture.md 7).

For K questions of each Spec-Bench task (first turn, --chat, greedy, 256 tokens), every method runs as a fresh
`selfspec generate --json` process, methods interleaved and their order rotated, each question ROUNDS times
(fastest kept). Reports per task and overall decode tokens/s (total tokens / total decode seconds), the ratio
to `ar`, and whether every method's tokens equal `ar`'s.
usage: bench/fresh_methods.py [--per-task K] [--rounds R] [--methods ar,hybrid,lookup] [--model M] [--sidecar PATH|none]
"""
import argparse, collections, json, os, subprocess, sys

root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ap = argparse.ArgumentParser()
ap.add_argument("--per-task", type=int, default=4)
ap.add_argument("--rounds", type=int, default=2)
ap.add_argument("--methods", default="ar,hybrid,lookup")
ap.add_argument("--model", default=os.path.join(root, "..", "shared", "models", "SmolLM2-135M-Instruct.Q4_1.gguf"))
ap.add_argument("--prompts", default=os.path.join(root, "..", "shared", "data", "spec-bench", "questions.dev.jsonl"))
ap.add_argument("--sidecar", default="none")
ap.add_argument("--threads", default="2")
a = ap.parse_args()
methods = a.methods.split(",")
if methods[0] != "ar": sys.exit("--methods must start with ar (the baseline)")
tasks = {"mt_bench": None, "translation": "translation", "summarization": "summarization", "qa": "qa",
         "math_reasoning": "math_reasoning", "rag": "rag"}
chosen = collections.defaultdict(list)
for line in open(a.prompts):
    q = json.loads(line)
    task = q["category"] if q["category"] in tasks.values() else "mt_bench"
    if len(chosen[task]) < a.per_task: chosen[task].append(q["turns"][0])
cli = ["dotnet", os.path.join(root, "src", "SelfSpec.Cli", "bin", "Release", "net10.0", "SelfSpec.Cli.dll")]

def run(method, prompt):
    out = subprocess.run(cli + ["generate", "--model", a.model, "--prompt", prompt, "--chat", "--max-tokens", "256", "--method", method,
                                "--sidecar", a.sidecar, "--json", "-t", a.threads], capture_output=True, text=True, check=True).stdout
    d = json.loads(out)
    return d["output_tokens"], d["stats"]["time_s"]["decode"]

totals = collections.defaultdict(lambda: [0, 0.0])  # (task, method) -> tokens, seconds
same = collections.Counter()
n = 0
for task, prompts in chosen.items():
    for prompt in prompts:
        best, tokens = {}, {}
        for r in range(a.rounds):
            order = methods[n % len(methods):] + methods[:n % len(methods)]
            n += 1
            for m in order:
                toks, secs = run(m, prompt)
                tokens[m] = toks
                best[m] = min(best.get(m, float("inf")), secs)
        for m in methods:
            if len(tokens[m]) < 2: continue
            totals[(task, m)][0] += len(tokens[m]) - 1  # decode covers the tokens after the first
            totals[(task, m)][1] += best[m]
            same[m] += tokens[m] == tokens["ar"]
        print(f"{task}: " + ", ".join(f"{m} {len(tokens[m])} tok {best[m]:.3f} s" for m in methods), flush=True)

def line(name, keys):
    rates = {m: sum(totals[(t, m)][0] for t in keys) / max(1e-9, sum(totals[(t, m)][1] for t in keys)) for m in methods}
    return f"{name:15s} " + "  ".join(f"{m} {rates[m]:7.1f} tok/s ({rates[m] / rates['ar']:.2f}x)" for m in methods)

for task in chosen: print(line(task, [task]))
print(line("overall", list(chosen)))
print("outputs equal to ar: " + ", ".join(f"{m} {same[m]}/{sum(len(p) for p in chosen.values())}" for m in methods))
