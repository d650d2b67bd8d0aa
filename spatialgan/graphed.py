"""The editor's render (heatmaps from centres, then synthesis from fixed ws) replayed as a CUDA graph.

At batch 1 a 128 px generator is a few hundred small kernels, and on a GPU their launch cost, not their
arithmetic, sets the latency: 9-15 ms eager on an H200 at any resolution, about 2 ms replayed
(bench/results/generator_latency_cuda.md). `GraphedRenderer` captures the whole render once per input shape
and replays it: new centres and ws are copied into the captured inputs, one replay runs every kernel.
On any other device it runs the same code eagerly.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass

import torch

from .carry import DEFAULT_RESOLUTION
from .generator import Generator
from .heatmaps import HeatmapBatch, HeatmapLevel
from .render import render

Rendered = tuple[torch.Tensor, dict[int, torch.Tensor] | None]  # image (B, C, R, R), sub-maps per resolution


@dataclass
class _Graph:
    graph: torch.cuda.CUDAGraph
    ws: torch.Tensor
    batch: HeatmapBatch | None
    home: torch.Tensor | None
    image: torch.Tensor
    heat: dict[int, torch.Tensor] | None
    weights_key: tuple


def _signature(ws: torch.Tensor, batch: HeatmapBatch | None, home: torch.Tensor | None, draft: int | None) -> tuple:
    """What a captured graph is specialised to: the shapes and dtypes of its inputs, the heatmap mode, whether
    objects are carried and the draft resolution. Parents enter the render only through a carry (whose home moves
    a sub-tree)."""
    if batch is None:
        return tuple(ws.shape), ws.dtype, None, draft
    levels = tuple((tuple(lv.centres.shape), lv.centres.dtype) for lv in batch.levels)
    carried = None if home is None else (tuple(home.shape), tuple(map(tuple, batch.parents)))
    return tuple(ws.shape), ws.dtype, batch.mode, levels, carried, draft


class GraphedRenderer:
    """`renderer(ws, batch, home, draft) -> (image, sub-maps)`: `spatialgan.render.render` with constant noise,
    carrying the objects from `home` (B, m, 2) when given, stopping at the `draft` block resolution when given, as
    CUDA graph replays on a CUDA device (eager elsewhere). Outputs are fresh tensors.

    Weights must not change while graphs are alive, except through in-place edits that `_weights_key` sees
    (optimizer steps, `load_state_dict`): those drop the graphs, which are captured again on the next call.
    If a capture fails, the renderer warns once and renders eagerly from then on: slower, never broken.
    """

    def __init__(self, G: Generator, max_graphs: int = 8, warmup: int = 2,
                 carry_resolution: int | None = None) -> None:
        self.G = G
        # the block a carry blends after (`spatialgan.carry`), or the nearest block below it
        self.carry_resolution = carry_resolution or DEFAULT_RESOLUTION
        self.max_graphs = max_graphs
        self.warmup = warmup
        device = next(G.parameters()).device
        self.enabled = device.type == "cuda"
        self._graphs: dict[tuple, _Graph] = {}
        self.captures = 0  # graphs captured so far (tests and benchmarks read it)

    def _eager(self, ws: torch.Tensor, batch: HeatmapBatch | None, home: torch.Tensor | None = None,
               draft: int | None = None) -> Rendered:
        out = render(self.G, ws, batch, homes=home, carry_at=self.carry_resolution, draft=draft)
        return out.image, out.heatmaps

    def _weights_key(self) -> tuple:
        return tuple((t.data_ptr(), t._version) for t in itertools.chain(self.G.parameters(), self.G.buffers()))

    def __call__(self, ws: torch.Tensor, batch: HeatmapBatch | None, home: torch.Tensor | None = None,
                 draft: int | None = None) -> Rendered:
        with torch.inference_mode():
            if not self.enabled:
                return self._eager(ws, batch, home, draft)
            key = _signature(ws, batch, home, draft)
            entry = self._graphs.get(key)
            if entry is not None and entry.weights_key != self._weights_key():
                self._graphs.clear()
                entry = None
            if entry is None:
                try:
                    entry = self._capture(key, ws, batch, home, draft)
                except RuntimeError as exc:  # an op that cannot be captured on this torch / driver
                    self.enabled = False
                    warnings.warn(f"CUDA graph capture failed, rendering eagerly: {exc}", RuntimeWarning,
                                  stacklevel=2)
                    return self._eager(ws, batch, home, draft)
            entry.ws.copy_(ws)
            if home is not None:
                assert entry.home is not None
                entry.home.copy_(home)
            if batch is not None:
                assert entry.batch is not None
                for dst, src in zip(entry.batch.levels, batch.levels):
                    dst.centres.copy_(src.centres)
                    dst.sigmas.copy_(src.sigmas)
                    dst.weights.copy_(src.weights)
            entry.graph.replay()
            # The replay overwrites its outputs in place: hand out copies so results stay valid.
            heat = {r: h.clone() for r, h in entry.heat.items()} if entry.heat is not None else None
            return entry.image.clone(), heat

    def _capture(self, key: tuple, ws: torch.Tensor, batch: HeatmapBatch | None, home: torch.Tensor | None,
                 draft: int | None) -> _Graph:
        if len(self._graphs) >= self.max_graphs:  # bounded: drop the oldest capture
            self._graphs.pop(next(iter(self._graphs)))
        static_ws = ws.clone()
        static_home = home.clone() if home is not None else None
        static_batch = None
        if batch is not None:
            static_batch = HeatmapBatch(batch.mode, [HeatmapLevel(lv.centres.clone(), lv.sigmas.clone(),
                                                                  lv.weights.clone()) for lv in batch.levels],
                                        batch.parents)
        # Warm-up on a side stream (as torch.cuda.graphs requires): it also makes the carry's cached part table, so
        # the capture only records kernels.
        stream = torch.cuda.Stream(device=ws.device)
        stream.wait_stream(torch.cuda.current_stream(ws.device))
        with torch.cuda.stream(stream):
            for _ in range(self.warmup):
                self._eager(static_ws, static_batch, static_home, draft)
        torch.cuda.current_stream(ws.device).wait_stream(stream)
        graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(graph):
            image, heat = self._eager(static_ws, static_batch, static_home, draft)
        self.captures += 1
        entry = _Graph(graph, static_ws, static_batch, static_home, image, heat, self._weights_key())
        self._graphs[key] = entry
        return entry
