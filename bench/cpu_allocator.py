"""CPU speed with glibc's default allocator settings against spatialgan.device.keep_freed_memory().

Workloads, each the way the project runs it on a CPU:
  rooms, pets: training steps of the 64 px default recipe at the batch its bundled model used (32, 16);
  inception: one batch of 32 through FID's Inception network (64 px images, resized to 299 px inside).

Each measurement is a fresh process: it builds the workload, warms up, then times repeats, recording wall
time, CPU time split into user and kernel, and minor page faults. The two settings alternate, so a load change
on a shared machine hits both alike, and the ratio of their medians is the result. Writes
bench/results/cpu_allocator_<N>thread.{json,md}.

    python bench/cpu_allocator.py                         # every workload, 1 thread per process
    python bench/cpu_allocator.py --threads 2 --workloads rooms
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

from spatialgan.metrics.report import machine as describe_machine

TRAIN = {"rooms": ("sel_indoor", 32), "pets": ("sel_norm", 16)}  # the batches the bundled 64 px models used
WORKLOADS = (*TRAIN, "inception")
BATCH = {**{k: b for k, (_, b) in TRAIN.items()}, "inception": 32}

_TIMER = """
import json, resource, time
for _ in range({warmup}):
    work()
r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
for _ in range({steps}):
    work()
wall, r1 = time.perf_counter() - t0, resource.getrusage(resource.RUSAGE_SELF)
n = {steps}
print(json.dumps({{"wall_s": wall / n, "user_s": (r1.ru_utime - r0.ru_utime) / n,
                  "sys_s": (r1.ru_stime - r0.ru_stime) / n, "faults": (r1.ru_minflt - r0.ru_minflt) / n}}))
"""

_TRAIN_SETUP = """
import tempfile, torch
torch.set_num_threads({threads})
from spatialgan.training import TrainConfig, Trainer
cfg = TrainConfig(data="{data}", resolution=64, encoding="{encoding}", batch={batch}, workers=0)
trainer = Trainer(cfg, tempfile.mkdtemp(), progress=False)  # calls keep_freed_memory() unless turned off
real = torch.stack([trainer.dataset[i] for i in range({batch})])
work = lambda: trainer.train_step(real)
"""

_INCEPTION_SETUP = """
import torch
torch.set_num_threads({threads})
from spatialgan.metrics.inception import InceptionFeatures
net = InceptionFeatures("cpu")  # calls keep_freed_memory() unless turned off
images = torch.randint(0, 256, ({batch}, 3, 64, 64)).float()
work = lambda: net(images)
"""


def measure(workload: str, keep: bool, threads: int, warmup: int, steps: int) -> dict:
    if workload in TRAIN:
        encoding, batch = TRAIN[workload]
        setup = _TRAIN_SETUP.format(threads=threads, data=workload, encoding=encoding, batch=batch)
    else:
        setup = _INCEPTION_SETUP.format(threads=threads, batch=BATCH[workload])
    env = {**os.environ, "SPATIALGAN_MALLOC": "" if keep else "default", "OMP_NUM_THREADS": str(threads)}
    code = setup + _TIMER.format(warmup=warmup, steps=steps)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workloads", nargs="+", default=list(WORKLOADS), choices=WORKLOADS)
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1, as in the "
                                                              "background CPU runs)")
    ap.add_argument("--repeats", type=int, default=2, help="processes per setting, alternating")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()

    rows = []
    for workload in args.workloads:
        runs: dict[str, list[dict]] = {"default": [], "keep": []}
        for _ in range(args.repeats):
            for name in ("default", "keep"):
                runs[name].append(measure(workload, name == "keep", args.threads, args.warmup, args.steps))
                r = runs[name][-1]
                print(f"{workload:9s} {name:7s} wall {r['wall_s']:.2f} s  user {r['user_s']:.2f}  sys {r['sys_s']:.2f}"
                      f"  faults {r['faults']:.0f}", flush=True)
        med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
        batch = BATCH[workload]
        rows.append({"workload": workload, "batch": batch, "runs": runs, "median": med,
                     "img_per_s": {name: batch / m["wall_s"] for name, m in med.items()},
                     "speedup": med["default"]["wall_s"] / med["keep"]["wall_s"]})

    # torch_threads there is this parent's; the measured processes ran with `threads`.
    machine = {**describe_machine(), "threads": args.threads, "date": time.strftime("%Y-%m-%d")}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"cpu_allocator_{args.threads}thread"
    stem.with_suffix(".json").write_text(json.dumps({"machine": machine, "args": vars(args) | {"out": str(args.out)},
                                                     "rows": rows}, indent=2) + "\n")
    lines = ["# CPU speed: glibc's default allocator settings against keep_freed_memory()", "",
             f"Machine: {machine['cpu_model']}, {machine['cpu_count']} cores, torch {machine['torch']}, {args.threads} "
             f"thread(s) per process, measured {machine['date']}. Training steps of the 64 px default recipe, and "
             f"one batch through FID's Inception network; {args.warmup} warm-up and {args.steps} timed repeats per "
             f"process, {args.repeats} processes per setting, alternating; medians. Load average at the end: "
             f"{machine['load_average']}.", "",
             "| workload | batch | setting | s per repeat | img/s | user s | kernel s | page faults |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for name in ("default", "keep"):
            m = row["median"][name]
            lines.append(f"| {row['workload']} | {row['batch']} | {name} | {m['wall_s']:.2f} | "
                         f"{row['img_per_s'][name]:.1f} | {m['user_s']:.2f} | {m['sys_s']:.2f} | {m['faults']:.0f} |")
    lines += [""] + [f"- {row['workload']}: {row['speedup']:.2f}x as fast with keep_freed_memory()" for row in rows]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {stem}.md and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
