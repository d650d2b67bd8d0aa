"""CPU training speed of two settings, A against B, measured as a ratio in one run.

Comparisons (--compare):
  allocator  glibc's default allocator settings against spatialgan.device.keep_freed_memory()
  bf16       float32 training against bfloat16 autocast (spatialgan-train --amp), which needs a CPU with
             AVX512-BF16 or AMX to be fast (spatialgan.device.native_bfloat16)

Workloads, each the way the project runs it on a CPU:
  rooms, pets: training steps of the 64 px default recipe at the batch its bundled model used (32, 16);
  inception: one batch of 32 through FID's Inception network (64 px images, resized to 299 px inside;
             allocator only).

Each measurement is a fresh process: it builds the workload, warms up, then times repeats, recording wall
time, CPU time split into user and kernel, and minor page faults. The two settings alternate, so a load change
on a shared machine hits both alike, and the ratio of their medians is the result. Writes
bench/results/cpu_<compare>_<N>thread.{json,md}.

    python bench/cpu_speed.py                             # allocator, every workload, 1 thread per process
    python bench/cpu_speed.py --threads 2 --workloads rooms
    python bench/cpu_speed.py --compare bf16 --workloads rooms pets
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from spatialgan.metrics.report import machine as describe_machine

TRAIN = {"rooms": ("sel_indoor", 32), "pets": ("sel_norm", 16)}  # the batches the bundled 64 px models used
WORKLOADS = (*TRAIN, "inception")
BATCH = {**{k: b for k, (_, b) in TRAIN.items()}, "inception": 32}


@dataclass(frozen=True)
class Setting:
    """One side of a comparison: its name, what the environment adds and whether the trainer autocasts."""

    name: str
    env: dict[str, str]
    amp: bool = False
    label: str = ""  # how the results line names it; default: the name


COMPARE = {
    "allocator": ("glibc's default allocator settings against keep_freed_memory()",
                  Setting("default", {"SPATIALGAN_MALLOC": "default"}),
                  Setting("keep", {"SPATIALGAN_MALLOC": ""}, label="keep_freed_memory()"), WORKLOADS),
    "bf16": ("float32 training against bfloat16 autocast (--amp)",
             Setting("float32", {}), Setting("bfloat16", {}, amp=True, label="bfloat16 autocast"), tuple(TRAIN)),
}

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
cfg = TrainConfig(data="{data}", resolution=64, encoding="{encoding}", batch={batch}, workers=0, amp={amp})
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


def measure(workload: str, setting: Setting, threads: int, warmup: int, steps: int) -> dict:
    if workload in TRAIN:
        encoding, batch = TRAIN[workload]
        setup = _TRAIN_SETUP.format(threads=threads, data=workload, encoding=encoding, batch=batch, amp=setting.amp)
    else:
        setup = _INCEPTION_SETUP.format(threads=threads, batch=BATCH[workload])
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), **setting.env}
    code = setup + _TIMER.format(warmup=warmup, steps=steps)
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--compare", choices=sorted(COMPARE), default="allocator")
    ap.add_argument("--workloads", nargs="+", choices=WORKLOADS, help="default: all that the comparison applies to")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1, as in the "
                                                              "background CPU runs)")
    ap.add_argument("--repeats", type=int, default=2, help="processes per setting, alternating")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    args = ap.parse_args()
    title, a, b, applies = COMPARE[args.compare]
    workloads = args.workloads or list(applies)
    if unfit := [w for w in workloads if w not in applies]:
        ap.error(f"--compare {args.compare} does not apply to {', '.join(unfit)}")

    rows = []
    for workload in workloads:
        runs: dict[str, list[dict]] = {a.name: [], b.name: []}
        for _ in range(args.repeats):
            for setting in (a, b):
                name = setting.name
                runs[name].append(measure(workload, setting, args.threads, args.warmup, args.steps))
                r = runs[name][-1]
                print(f"{workload:9s} {name:8s} wall {r['wall_s']:.2f} s  user {r['user_s']:.2f}  sys {r['sys_s']:.2f}"
                      f"  faults {r['faults']:.0f}", flush=True)
        med = {name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()}
        batch = BATCH[workload]
        rows.append({"workload": workload, "batch": batch, "runs": runs, "median": med,
                     "img_per_s": {name: batch / m["wall_s"] for name, m in med.items()},
                     "speedup": med[a.name]["wall_s"] / med[b.name]["wall_s"]})

    # torch_threads there is this parent's; the measured processes ran with `threads`.
    machine = {**describe_machine(), "threads": args.threads, "date": time.strftime("%Y-%m-%d")}
    args.out.mkdir(parents=True, exist_ok=True)
    stem = args.out / f"cpu_{args.compare}_{args.threads}thread"
    stem.with_suffix(".json").write_text(json.dumps({"machine": machine, "args": vars(args) | {"out": str(args.out)},
                                                     "rows": rows}, indent=2) + "\n")
    lines = [f"# CPU speed: {title}", "",
             f"Machine: {machine['cpu_model']}, {machine['cpu_count']} cores, torch {machine['torch']}, {args.threads} "
             f"thread(s) per process, measured {machine['date']}. Training steps of the 64 px default recipe"
             + (", and one batch through FID's Inception network" if "inception" in workloads else "")
             + f"; {args.warmup} warm-up and {args.steps} timed repeats per process, {args.repeats} processes per "
             f"setting, alternating; medians. Load average at the end: {machine['load_average']}.", "",
             "Command: `" + " ".join(["python3", "bench/cpu_speed.py", *sys.argv[1:]]) + "`", "",
             "| workload | batch | setting | s per repeat | img/s | user s | kernel s | page faults |",
             "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        for name in (a.name, b.name):
            m = row["median"][name]
            lines.append(f"| {row['workload']} | {row['batch']} | {name} | {m['wall_s']:.2f} | "
                         f"{row['img_per_s'][name]:.1f} | {m['user_s']:.2f} | {m['sys_s']:.2f} | {m['faults']:.0f} |")
    lines += [""] + [f"- {row['workload']}: {row['speedup']:.2f}x as fast with {b.label or b.name}" for row in rows]
    stem.with_suffix(".md").write_text("\n".join(lines) + "\n")
    print(f"wrote {stem}.md and .json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
