"""CPU training speed with and without the trainer's allocator setting (spatialgan.device.keep_freed_memory).

Each measurement is a fresh process that builds the shipped 64 px recipe (the default preset), runs warm-up
steps on one fixed real batch, then times training steps: wall time, CPU time split into user and kernel, and
minor page faults. The two settings alternate, so a load change on a shared machine hits both alike, and the
ratio of their medians is the result. Writes bench/results/train_speed_cpu_<N>thread.{json,md}.

    python bench/train_speed.py                    # rooms (batch 32) and pets (batch 16), 1 thread
    python bench/train_speed.py --threads 2 --repeats 3
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generator_latency import cpu_name  # noqa: E402

RECIPES = {"rooms": ("sel_indoor", 32), "pets": ("sel_norm", 16)}  # the batches the bundled 64 px models used

_CHILD = """
import json, resource, sys, tempfile, time
import torch
torch.set_num_threads({threads})
from spatialgan.training import TrainConfig, Trainer
cfg = TrainConfig(data="{data}", resolution=64, encoding="{encoding}", batch={batch}, workers=0)
trainer = Trainer(cfg, tempfile.mkdtemp(), progress=False)
real = torch.stack([trainer.dataset[i] for i in range({batch})])
for _ in range({warmup}):
    trainer.train_step(real)
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for _ in range({steps}):
    trainer.train_step(real)
wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
n = {steps}
print(json.dumps({{"wall_s": wall / n, "user_s": (r1.ru_utime - r0.ru_utime) / n,
                  "sys_s": (r1.ru_stime - r0.ru_stime) / n, "faults": (r1.ru_minflt - r0.ru_minflt) / n}}))
"""


def measure(data: str, keep: bool, threads: int, warmup: int, steps: int) -> dict:
    encoding, batch = RECIPES[data]
    env = {**os.environ, "SPATIALGAN_MALLOC": "" if keep else "default", "OMP_NUM_THREADS": str(threads)}
    code = _CHILD.format(threads=threads, data=data, encoding=encoding, batch=batch, warmup=warmup, steps=steps)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", nargs="+", default=list(RECIPES), choices=list(RECIPES))
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1, as in the "
                                                              "background CPU runs)")
    ap.add_argument("--repeats", type=int, default=2, help="processes per setting, alternating")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()

    rows = []
    for data in args.data:
        runs: dict[str, list[dict]] = {"default": [], "keep": []}
        for _ in range(args.repeats):
            for name in ("default", "keep"):
                runs[name].append(measure(data, name == "keep", args.threads, args.warmup, args.steps))
                r = runs[name][-1]
                print(f"{data:5s} {name:7s} wall {r['wall_s']:.2f} s/step  user {r['user_s']:.2f}  sys {r['sys_s']:.2f}"
                      f"  faults {r['faults']:.0f}", flush=True)
        med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
        batch = RECIPES[data][1]
        rows.append({"data": data, "batch": batch, "runs": runs, "median": med,
                     "img_per_s": {name: batch / m["wall_s"] for name, m in med.items()},
                     "speedup": med["default"]["wall_s"] / med["keep"]["wall_s"]})

    machine = {"cpu": cpu_name(), "cores": os.cpu_count(), "torch": torch.__version__, "threads": args.threads,
               "date": time.strftime("%Y-%m-%d"), "load_avg": [round(v, 2) for v in os.getloadavg()]}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"train_speed_cpu_{args.threads}thread"
    stem.with_suffix(".json").write_text(json.dumps({"machine": machine, "args": vars(args) | {"out": str(args.out)},
                                                     "rows": rows}, indent=2) + "\n")
    lines = ["# CPU training speed: glibc's default allocator settings against keep_freed_memory()", "",
             f"Machine: {machine['cpu']}, {machine['cores']} cores, torch {machine['torch']}, {args.threads} "
             f"thread(s) per process, measured {machine['date']}. The 64 px default recipe, {args.warmup} warm-up "
             f"and {args.steps} timed steps per process, {args.repeats} processes per setting, alternating; "
             f"medians. Load average at the end: {machine['load_avg']}.", "",
             "| data | batch | setting | s/step | img/s | user s/step | kernel s/step | page faults/step |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for name in ("default", "keep"):
            m = row["median"][name]
            lines.append(f"| {row['data']} | {row['batch']} | {name} | {m['wall_s']:.2f} | "
                         f"{row['img_per_s'][name]:.1f} | {m['user_s']:.2f} | {m['sys_s']:.2f} | {m['faults']:.0f} |")
    lines += [""] + [f"- {row['data']}: {row['speedup']:.2f}x faster with keep_freed_memory()" for row in rows]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {stem}.md and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
