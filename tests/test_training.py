"""The training loop: it learns, resumes exactly, runs on two processes, and stops cleanly on NaN."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
import torch

from spatialgan import load_checkpoint
from spatialgan.errors import ConfigError
from spatialgan.training import TrainConfig, Trainer, TrainingStopped
from spatialgan.training.cli import main as train_main
from spatialgan.training.sampler import StepSampler
from training_fixtures import ToyImages, tiny_train_config

HERE = Path(__file__).parent


def _weights(t: Trainer) -> dict[str, torch.Tensor]:
    return {f"{n}.{k}": v.clone() for n, m in (("G", t.G), ("D", t.D), ("G_ema", t.G_ema))
            for k, v in m.state_dict().items()}


def test_run_writes_everything_and_learns(tmp_path: Path) -> None:
    cfg = tiny_train_config()
    t = Trainer(cfg, tmp_path, dataset=ToyImages(), progress=False)
    before = _weights(t)
    stats = t.run()
    assert stats is not None and stats.step == cfg.total_steps == 6
    after = _weights(t)
    assert all(not torch.equal(before[k], after[k]) for k in before if k.endswith(".weight"))
    rows = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 7))
    assert all(r["loss_align"] > 0 for r in rows), "L_align is computed in every G step"
    # The untruncated monitor is a per-level mean |CAM - target|, so it lies in [0, 1] and below the truncated sum.
    assert all(0 < r["align_l1"] <= 1 and r["align_l1"] < r["loss_align"] for r in rows)
    assert rows[0]["r1"] is not None and rows[1]["r1"] is None, "R1 is lazy (every r1_interval steps)"
    t2 = Trainer(tiny_train_config(log_steps=3), tmp_path / "coarse", dataset=ToyImages(), progress=False)
    t2.run()
    coarse = [json.loads(line) for line in (tmp_path / "coarse" / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in coarse] == [3, 6]
    assert coarse[0]["loss_g"] == pytest.approx(sum(r["loss_g"] for r in rows[:3]) / 3, rel=1e-5)
    assert all(r["r1"] is not None for r in coarse), "each interval reports its latest R1"
    assert len(list((tmp_path / "samples").glob("*.png"))) >= 2
    ck = load_checkpoint(tmp_path / "model.safetensors")
    assert ck.info.meta["kimg"] == pytest.approx(0.024) and ck.info.meta["steps"] == 6
    for k, v in ck.generator.state_dict().items():
        assert torch.equal(v, t.G_ema.state_dict()[k])
    assert TrainConfig.load(tmp_path / "train_config.json") == cfg


def test_killed_and_resumed_equals_uninterrupted(tmp_path: Path) -> None:
    cfg = tiny_train_config(noise_mode="random", mbstd_group=4)
    full = Trainer(cfg, tmp_path / "full", dataset=ToyImages(), progress=False)
    full.run()

    class Killed(Exception):
        pass

    def kill_at_step_3(stats) -> None:  # after the step-2 snapshot, before the step-4 one
        if stats.step == 3:
            raise Killed

    part = Trainer(cfg, tmp_path / "part", dataset=ToyImages(), progress=False)
    with pytest.raises(Killed):
        part.run(on_step=kill_at_step_3)
    resumed = Trainer(cfg, tmp_path / "part", dataset=ToyImages(), progress=False)
    assert resumed.resume() and resumed.step == 2
    resumed.run()
    a, b = _weights(full), _weights(resumed)
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]
    for (opt_a, net_a), (opt_b, net_b) in (((full.opt_G, full.G), (resumed.opt_G, resumed.G)),
                                           ((full.opt_D, full.D), (resumed.opt_D, resumed.D))):
        for pa, pb in zip(net_a.parameters(), net_b.parameters()):
            assert torch.equal(opt_a.state[pa]["exp_avg"], opt_b.state[pb]["exp_avg"])
            assert torch.equal(opt_a.state[pa]["exp_avg_sq"], opt_b.state[pb]["exp_avg_sq"])


def test_the_time_estimate_leaves_the_run_as_it_was(tmp_path: Path) -> None:
    """Estimating runs real steps and undoes them: the run afterwards is the run without the estimate."""
    cfg = tiny_train_config(noise_mode="random", mbstd_group=4)
    plain = Trainer(cfg, tmp_path / "plain", dataset=ToyImages(), progress=False)
    plain.run()
    asked = Trainer(cfg, tmp_path / "asked", dataset=ToyImages(), progress=False)
    seconds = asked.estimate_step_seconds()
    assert 0 < seconds < 60 and asked.step == 0
    asked.run()
    a, b = _weights(plain), _weights(asked)
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:5]


def test_time_estimate_advises_on_long_cpu_runs() -> None:
    from spatialgan.training.cli import time_estimate

    cfg = TrainConfig(total_kimg=200)
    short = time_estimate(0.05, 1000, cfg, torch.device("cpu"))
    assert "about 50 s" in short and "GPU" not in short
    long = time_estimate(2.0, 12500, cfg, torch.device("cpu"))
    assert "about 6.9 h" in long and "--device cuda" in long and "--kimg 28 " in long
    assert "GPU" not in time_estimate(2.0, 12500, cfg, torch.device("cuda"))


def test_nan_stops_and_keeps_the_last_good_snapshot(tmp_path: Path) -> None:
    t = Trainer(tiny_train_config(), tmp_path, dataset=ToyImages(), progress=False)

    def poison(stats) -> None:
        if stats.step == 2:  # right after the step-2 snapshot
            with torch.no_grad():
                next(t.G.synthesis.parameters()).fill_(float("nan"))

    with pytest.raises(TrainingStopped, match="step 2"):
        t.run(on_step=poison)
    again = Trainer(tiny_train_config(), tmp_path, dataset=ToyImages(), progress=False)
    assert again.resume() and again.step == 2
    assert all(torch.isfinite(p).all() for p in again.G.parameters())


def test_sampler_is_resumable_and_shards_the_global_batch() -> None:
    def take(s: StepSampler, n: int) -> list[int]:
        it = iter(s)
        return [next(it) for _ in range(n)]

    whole = take(StepSampler(10, 4, seed=1), 24)
    assert sorted(whole[:10]) == list(range(10)), "each epoch is a permutation"
    assert take(StepSampler(10, 4, seed=1, start_step=3), 8) == whole[12:20]
    r0 = take(StepSampler(10, 4, seed=1, rank=0, world=2), 6)
    r1 = take(StepSampler(10, 4, seed=1, rank=1, world=2), 6)
    assert r0[0:2] + r1[0:2] + r0[2:4] + r1[2:4] == whole[:8]


def test_two_processes_match_one(tmp_path: Path) -> None:
    """The distributed path (torchrun, gloo, two CPU processes) gives the single-process weights."""
    single = Trainer(tiny_train_config(), tmp_path / "one", dataset=ToyImages(), progress=False)
    single.run()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(HERE.parent)}
    res = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                          str(HERE / "_dist_worker.py"), str(tmp_path / "two")],
                         capture_output=True, text=True, env=env, timeout=300)
    assert res.returncode == 0, res.stderr[-3000:]
    g0 = torch.load(tmp_path / "two" / "G_rank0.pt")
    g1 = torch.load(tmp_path / "two" / "G_rank1.pt")
    for k in g0:
        assert torch.equal(g0[k], g1[k]), f"processes diverged at {k}"
        assert torch.allclose(g0[k], single.G.state_dict()[k], atol=1e-5, rtol=1e-4), k


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="--no-align"):
        TrainConfig(encoding="none")
    with pytest.raises(ConfigError, match="total_kimg"):
        TrainConfig(total_kimg=0)
    with pytest.raises(ConfigError, match="resolution"):
        TrainConfig(resolution=48)
    with pytest.raises(ConfigError, match="--no-align"):
        TrainConfig(heatmap_sampling="noise")
    with pytest.raises(ConfigError, match="independent"):
        TrainConfig(encoding="sel_indoor", heatmap_sampling="independent")
    with pytest.raises(ConfigError, match="align_target"):
        TrainConfig(align_target="mean")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="cam_score"):
        TrainConfig(cam_score="real")  # type: ignore[arg-type]


def test_cam_score_reaches_the_alignment_loss(tmp_path: Path) -> None:
    """The same step with the other GradCAM score gives another L_align, and so other G weights."""
    results = []
    for score in ("g_loss", "logit"):
        cfg = tiny_train_config(encoding="sel_norm", heatmap_mode="hierarchical", cam_score=score)
        t = Trainer(cfg, tmp_path / score, dataset=ToyImages(), progress=False)
        stats = t.train_step(next(iter(torch.utils.data.DataLoader(ToyImages(), batch_size=cfg.batch))))
        results.append((stats.loss_align, [p.detach().clone() for p in t.G.parameters()]))
    assert results[0][0] != results[1][0]
    assert any(not torch.equal(a, b) for a, b in zip(results[0][1], results[1][1]))


def test_move_loss_reaches_g_and_the_log(tmp_path: Path) -> None:
    """--move-weight adds the move-consistency loss to G's step (other G weights than without it) and to the log;
    weight 0 is the paper's recipe and logs no move loss."""
    weights, rows = [], []
    for w in (0.0, 2.0):
        cfg = tiny_train_config(encoding="sel_indoor", move_weight=w, move_batch=2, total_kimg=0.008)
        t = Trainer(cfg, tmp_path / str(w), dataset=ToyImages(), progress=False)
        stats = t.run()
        assert stats is not None and (stats.loss_move > 0) == (w > 0)
        weights.append([p.detach().clone() for p in t.G.parameters()])
        rows.append(json.loads((tmp_path / str(w) / "log.jsonl").read_text().splitlines()[0]))
    assert any(not torch.equal(a, b) for a, b in zip(*weights))
    assert "loss_move" not in rows[0] and rows[1]["loss_move"] > 0
    with pytest.raises(ConfigError, match="move_weight"):
        TrainConfig(move_weight=-1.0)
    with pytest.raises(ConfigError, match="encoding 'none'"):
        TrainConfig(encoding="none", align=False, move_weight=1.0)


def test_amp_autocasts_the_main_passes_on_the_cpu(tmp_path: Path) -> None:
    """--amp on the CPU: G's synthesis runs under bfloat16 autocast, and the step stays finite and close to the
    float32 one without being equal to it."""
    real = next(iter(torch.utils.data.DataLoader(ToyImages(), batch_size=4)))
    stats, casts = {}, {}

    def record(amp: bool) -> Callable:
        def hook(module, inputs) -> None:
            on = torch.is_autocast_enabled("cpu")
            casts.setdefault(amp, set()).add(torch.get_autocast_dtype("cpu") if on else torch.float32)
        return hook

    for amp in (False, True):
        t = Trainer(tiny_train_config(amp=amp), tmp_path / str(amp), dataset=ToyImages(), progress=False)
        t.G.synthesis.blocks[0].register_forward_pre_hook(record(amp))
        stats[amp] = t.train_step(real)
    assert casts == {False: {torch.float32}, True: {torch.bfloat16}}, "both synthesis passes of the step autocast"
    a, b = stats[False], stats[True]
    assert math.isfinite(b.loss_g) and math.isfinite(b.loss_d) and math.isfinite(b.loss_align)
    assert b.loss_g != a.loss_g and b.loss_g == pytest.approx(a.loss_g, rel=0.05)
    assert b.loss_d == pytest.approx(a.loss_d, rel=0.05)


@pytest.mark.parametrize("encoding,mode,target,indoor", [
    ("sel_indoor", None, "auto", True), ("sel_norm", "multi", "auto", True), ("sel_norm", "hierarchical", "auto", False),
    ("sel_indoor", None, "sum", False), ("sel_norm", "hierarchical", "indoor", True)])
def test_align_target_picks_eq4_or_eq5(encoding: str, mode: str | None, target: str, indoor: bool) -> None:
    cfg = tiny_train_config(encoding=encoding, heatmap_mode=mode, align_target=target)
    assert cfg.align_indoor is indoor
    assert Trainer(cfg, Path("unused"), dataset=ToyImages(), progress=False).indoor is indoor


def test_ablation_sampling_reaches_the_model(tmp_path: Path) -> None:
    """A research variant trains as such and its checkpoint rebuilds it; the generator config stays the product's."""
    cfg = tiny_train_config(encoding="sel_norm", heatmap_sampling="noise", align=False, total_kimg=0.008)
    t = Trainer(cfg, tmp_path, dataset=ToyImages(), progress=False)
    assert t.G.variant.heatmap_sampling == "noise" and "sampling" not in t.G.config.to_dict()["heatmap"]
    t.run()
    G = load_checkpoint(tmp_path / "model.safetensors").generator
    assert G.variant.heatmap_sampling == "noise"
    plain = load_checkpoint(tmp_path / "model.safetensors").generator
    hb = G.sample_layouts(1, seed=0)
    assert not torch.equal(G.heatmap_inputs(hb)[4], plain.heatmap_inputs(hb)[4]), "fresh noise maps per call"


def test_cli_errors(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    assert train_main([]) == 2
    assert "--out" in capsys.readouterr().err
    assert train_main(["--resume", str(tmp_path)]) == 2
    assert "no snapshot.safetensors" in capsys.readouterr().err
    assert train_main(["--out", str(tmp_path), "--encoding", "none"]) == 2
    assert "--no-align" in capsys.readouterr().err
    assert train_main(["--out", str(tmp_path / "g"), "--sel-gain", "0"]) == 2
    assert "sel_residual_gain must be a positive number" in capsys.readouterr().err
    assert TrainConfig(resolution=32, sel_residual_gain=0.5).variant().sel_gain == 0.5


def test_cli_resume_refuses_recipe_changes_and_exports(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    # data "pets": the resumed CLI run below builds its dataset by name (the procedural pets, at 32 px)
    t = Trainer(tiny_train_config(total_kimg=0.008, data="pets"), tmp_path, dataset=ToyImages(), progress=False)
    t.run()
    assert train_main(["--resume", str(tmp_path), "--g-lr", "0.1"]) == 2
    assert "cannot change g_lr" in capsys.readouterr().err
    assert train_main(["--resume", str(tmp_path), "--amp", "--kimg", "0.012"]) == 0, "a speed setting may change"
    assert TrainConfig.load(tmp_path / "train_config.json").amp
    assert train_main(["--out", str(tmp_path)]) == 2
    assert "already holds a run" in capsys.readouterr().err
    out = tmp_path / "shipped.safetensors"
    assert train_main(["--resume", str(tmp_path), "--export", str(out), "--half"]) == 0
    ck = load_checkpoint(out)
    assert ck.info.dtype == "float16" and ck.info.meta["steps"] == 3


def test_cli_branch_continues_a_copy_with_a_new_recipe(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    parent, child = tmp_path / "parent", tmp_path / "child"
    t = Trainer(tiny_train_config(total_kimg=0.008, data="pets"), parent, dataset=ToyImages(), progress=False)
    t.run()
    before = (parent / "snapshot.safetensors").read_bytes()
    assert train_main(["--branch", str(parent), "--out", str(child), "--g-lr", "0.1"]) == 2
    assert "cannot change g_lr" in capsys.readouterr().err and not child.exists()
    assert train_main(["--branch", str(parent)]) == 2
    assert "needs --out" in capsys.readouterr().err
    assert train_main(["--branch", str(parent), "--out", str(child), "--align-weight", "4", "--seed", "3",
                       "--move-weight", "0.5", "--kimg", "0.016"]) == 0
    cfg = TrainConfig.load(child / "train_config.json")
    assert (cfg.align_weight, cfg.seed, cfg.move_weight, cfg.total_kimg) == (4.0, 3, 0.5, 0.016)
    assert TrainConfig.load(parent / "train_config.json").align_weight == 1.0
    assert (parent / "snapshot.safetensors").read_bytes() == before, "the parent run is left as it was"
    steps = [json.loads(line)["step"] for line in (child / "log.jsonl").read_text().splitlines()
             if '"step"' in line]
    assert steps[0] == 1 and steps[-1] == 4, "the branch's log goes on from the parent's history"
    assert load_checkpoint(child / "model.safetensors").info.meta["steps"] == 4
    assert train_main(["--branch", str(parent), "--out", str(child)]) == 2
    assert "already holds a run" in capsys.readouterr().err


def _snapshot_generator(run: Path, prefix: str = "G_ema.") -> torch.nn.Module:
    from safetensors import safe_open

    from spatialgan.research import build
    cfg = TrainConfig.load(run / "train_config.json")
    G = build(cfg.model_configs()[0], cfg.variant()).eval()
    with safe_open(str(run / "snapshot.safetensors"), framework="pt") as f:
        G.load_state_dict({k[len(prefix):]: f.get_tensor(k) for k in f.keys() if k.startswith(prefix)})
    return G


def test_cli_branch_flattens_the_const_input_and_back(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from spatialgan.training.snapshot import CONST, reshape_const
    parent, flat, back = tmp_path / "parent", tmp_path / "flat", tmp_path / "back"
    Trainer(tiny_train_config(total_kimg=0.008, data="pets"), parent, dataset=ToyImages(), progress=False).run()
    learned = _snapshot_generator(parent).synthesis.blocks[0].const
    assert train_main(["--branch", str(parent), "--out", str(flat), "--const-input", "flat"]) == 0
    assert "'const_input': 'flat'" in capsys.readouterr().out
    assert not (flat / "model.safetensors").exists(), "the parent's model no longer fits the branch"
    G_flat = _snapshot_generator(flat)
    torch.testing.assert_close(G_flat.synthesis.blocks[0].const, learned.mean((2, 3), keepdim=True))
    # Back to learned: the flat vector at every position draws the same pictures.
    names = [n for n, _ in G_flat.named_parameters()]
    (back / "snapshot.safetensors").parent.mkdir()
    (back / "train_config.json").write_text((flat / "train_config.json").read_text().replace('"flat"', '"learned"'))
    reshape_const(flat / "snapshot.safetensors", back / "snapshot.safetensors", names.index(CONST), flat=False)
    G_back = _snapshot_generator(back)
    assert G_back.synthesis.blocks[0].const.shape[-2:] == (4, 4)
    z, hm = G_flat.sample_z(2, seed=1), G_flat.heatmap_inputs(G_flat.sample_layouts(2, seed=1))
    with torch.no_grad():
        torch.testing.assert_close(G_back(z, hm, noise_mode="const").image, G_flat(z, hm, noise_mode="const").image)
    # The flat branch trains on, with a fresh Adam state for the reshaped input, and exports a flat model.
    assert train_main(["--resume", str(flat), "--kimg", "0.012"]) == 0
    assert load_checkpoint(flat / "model.safetensors").generator.variant.const_input == "flat"
    assert not torch.equal(_snapshot_generator(flat, "G.").synthesis.blocks[0].const,
                           _snapshot_generator(parent, "G.").synthesis.blocks[0].const.mean((2, 3), keepdim=True))


_FAULTS = """
import resource, torch
from spatialgan.device import keep_freed_memory
took = keep_freed_memory()
x = torch.randn(40 * 2**20 // 4)  # 40 MB: above glibc's largest automatic mmap threshold
y = x * 2.0
del y
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(20):
    y = x * 2.0
    del y
print(took, resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the allocator setting is glibc's")
def test_keep_freed_memory_stops_refaulting_large_blocks() -> None:
    """The CPU trainer's allocator setting: a 40 MB block freed and allocated again is reused, not refaulted
    page by page (20 rounds of 10240 pages each by default). SPATIALGAN_MALLOC=default turns it off.

    The bound is relative: here the setting leaves 0 faults, but CI's machine refaulted one round (10240) of
    the ten we first asked for, so the test asks for at least 4x fewer faults rather than none."""
    def run(env_value: str) -> tuple[str, int]:
        env = {**os.environ, "SPATIALGAN_MALLOC": env_value}
        out = subprocess.run([sys.executable, "-c", _FAULTS], env=env, capture_output=True, text=True, check=True)
        took, faults = out.stdout.split()
        return took, int(faults)

    took, kept = run("")
    off, default = run("default")
    assert (took, off) == ("True", "False")
    assert default > 100_000 and kept < default / 4, (kept, default)


def test_cli_subcommands(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    """`spatialgan-train new|resume|branch|export`: the same runs as the flag form, read as what they do."""
    run, child = tmp_path / "run", tmp_path / "child"
    Trainer(tiny_train_config(total_kimg=0.008, data="pets"), run, dataset=ToyImages(), progress=False).run()
    assert train_main(["new", str(run)]) == 2
    assert "spatialgan-train resume" in capsys.readouterr().err
    assert train_main(["resume", str(run), "--g-lr", "0.1"]) == 2
    assert "cannot change g_lr" in capsys.readouterr().err
    assert train_main(["resume", str(run), "--kimg", "0.012", "--no-progress"]) == 0
    assert TrainConfig.load(run / "train_config.json").total_kimg == 0.012
    assert train_main(["branch", str(run), str(child), "--align-weight", "2", "--kimg", "0.016", "--no-progress"]) == 0
    assert TrainConfig.load(child / "train_config.json").align_weight == 2
    out = tmp_path / "m.safetensors"
    assert train_main(["export", str(child), str(out), "--half"]) == 0
    assert load_checkpoint(out).info.dtype == "float16"
    assert train_main(["export", str(child)]) == 2  # argparse: the file to write is missing
