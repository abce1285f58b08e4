"""Tiled transfer (``--tile``): what the device holds at a print size against an untiled run at the
tile's size, and the time and whole-process memory of short runs.

Device share (``--share``, the issue's target: a 4096 px run tiled at 1024 must need no more device
memory than a 1024 px run untiled). Each case runs in its own process: random VGG-19 in fp32, the
astronaut in the style of ihc (both at the size), the criterion built (style and content targets),
L-BFGS's state allocated (its whole history is allocated up front) and one evaluation with its
backward; the optimiser's step is left out (untiled it would add a copy of the image on the device).
On a GPU the figure is the allocator's peak above the network's weights, read directly. On a CPU
host and device are one memory, so the device's share is measured as the resident set's peak of
each phase above its start (Linux: VmHWM, reset through /proc/self/clear_refs) less what a tiled run
keeps on the host at that peak, counted from the tensors' sizes (the content features while
building; the gradient buffer during the tile passes); the untiled run adds its image, content and
L-BFGS state, which live on the device there. What a CPU does not count: a tile's content features
copied to the device (``.to`` is a no-op there; ≤ 32 MiB for a 1024 px window).

Runs (default): whole transfers of a few evaluations, each its own process, reading the sidecar's
``peak_memory_mb`` (resident set on a CPU, ``cuda_allocated`` on a GPU) and time per evaluation.

    python benchmarks/bench_tiles.py --share --size 4096 --tile 1024 [--device auto]
    python benchmarks/bench_tiles.py [--size 1024] [--tile 256] [--steps 3] [--untiled-large]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

MIB = 2**20


def _samples(folder: Path) -> dict[str, Path]:
    paths = {}
    for name in ("astronaut", "ihc"):
        paths[name] = folder / f"{name}.png"
        if not paths[name].exists():
            subprocess.run([sys.executable, "-m", "pipeline", "-q", "sample", name, str(paths[name])], check=True)
    return paths


def run(folder: Path, size: int, steps: int, device: str, *extra: str) -> dict:
    paths = _samples(folder)
    out = folder / f"out-{size}-{'-'.join(extra) or 'untiled'}.png"
    command = [sys.executable, "-m", "pipeline", "-q", "transfer", "--weights", "random", "--device", device]
    command += ["--content", str(paths["astronaut"]), "--style", str(paths["ihc"]), "--out", str(out)]
    command += ["--size", str(size), "--steps", str(steps), *extra]
    subprocess.run(command, check=True)
    return json.loads(Path(f"{out}.json").read_text())


# --- the device's share, measured in a process of its own ------------------------------------------


class _Meter:
    """Peak memory of a phase above its start: the CUDA allocator's, or the CPU's resident set."""

    def __init__(self, device) -> None:
        import torch

        self.torch, self.device, self.cuda = torch, device, device.type == "cuda"

    def now(self) -> float:
        if self.cuda:
            return self.torch.cuda.memory_allocated(self.device) / MIB
        return _status_mib("VmRSS")

    @contextlib.contextmanager
    def peak(self, into: dict, key: str) -> Iterator[None]:
        if self.cuda:
            self.torch.cuda.synchronize(self.device)
            self.torch.cuda.reset_peak_memory_stats(self.device)
        else:
            Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
        start = self.now()
        yield
        if self.cuda:
            self.torch.cuda.synchronize(self.device)
            top = self.torch.cuda.max_memory_allocated(self.device) / MIB
        else:
            top = _status_mib("VmHWM")
        into[key] = top - start
        into[f"{key}_kept"] = self.now() - start


def _status_mib(key: str) -> float:
    """A memory line of /proc/self/status (kB there), in MiB."""
    status = dict(line.split(":", 1) for line in Path("/proc/self/status").read_text().splitlines())
    return int(status[key].split()[0]) / 1024


def _mib(*tensors) -> float:
    return sum(t.numel() * t.element_size() for t in tensors) / MIB


def measure_share(folder: Path, size: int, tile: int | None, device_name: str) -> dict:
    import torch

    from pipeline import io
    from pipeline.core.optim import LBFGS
    from pipeline.device import resolve_device
    from pipeline.gatys import GatysConfig, build_criterion
    from pipeline.gatys import tiles as tiling
    from pipeline.gatys.transfer import build_encoder

    torch.manual_seed(0)
    paths = _samples(folder)
    config = GatysConfig(size=size, tile=tile, device=device_name, precision="fp32")
    device = resolve_device(config.device)
    content, style = (io.image_to_tensor(io.load_image(paths[name], size=size)) for name in ("astronaut", "ihc"))
    tiled = tiling.tiles_needed(tile, content.shape)
    home = tiling.HOST if tiled else device
    meter = _Meter(device)
    encoder = build_encoder(config, "random").to(device)
    content, style = content.to(home), style.to(home)
    phases: dict = {}
    with meter.peak(phases, "build"):
        criterion = build_criterion(
            encoder, content, [style], config, precision_context=contextlib.nullcontext, device=device
        )
    image = content.clone().requires_grad_(True)
    # L-BFGS allocates its history (2 · lbfgs_history image-sized vectors) up front, so its state
    # before the first step is what it holds all run: on the device untiled, on the host tiled.
    lbfgs = LBFGS(image, history_size=config.lbfgs_history)
    state = _mib(*(t for t in vars(lbfgs).values() if isinstance(t, torch.Tensor) and t is not image))
    start = time.perf_counter()
    with meter.peak(phases, "evaluation"):  # one evaluation and its backward
        loss = torch.stack(list(criterion(image).values())).sum()
        loss.backward()
    seconds = time.perf_counter() - start
    on_cpu = device.type == "cpu"
    if tiled:
        # On a CPU the host's tensors were counted too; take them out (on a GPU they never were):
        # the content features, and during the tile passes (the peak) the gradient buffer. The
        # image's gradient comes after the passes, once the device's share is freed.
        features = _mib(*criterion.content_targets) if on_cpu else 0.0
        build = phases["build"] - features
        kept = phases["build_kept"] - features
        evaluation = phases["evaluation"] - (_mib(image) if on_cpu else 0.0)
        held = 0.0
    else:
        build, kept, evaluation = phases["build"], phases["build_kept"], phases["evaluation"]
        held = _mib(image, content) + state  # allocated before the phases, on the device
    return {
        "size": size,
        "tile": tile,
        "tiles": len(criterion.tiles) if tiled else 1,
        "device": str(device),
        "device_share_mib": round(max(build, kept + evaluation) + held, 1),
        "optimiser_state_mib": round(state, 1),
        "precision": config.precision,
        "phases_mib": {k: round(v, 1) for k, v in phases.items()},
        "evaluation_s": round(seconds, 2),
    }


def share(folder: Path, size: int, tile: int, device: str) -> None:
    rows = []
    for case_size, case_tile in ((tile, None), (size, tile)):
        command = [sys.executable, __file__, "--measure", str(case_size), str(case_tile or 0), "--device", device]
        # glibc's malloc keeps freed blocks and raises its mmap threshold as it goes, which hides
        # frees from the resident set; a fixed threshold maps every tensor and unmaps it when freed.
        env = {**os.environ, "MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_TRIM_THRESHOLD_": "131072"}
        result = subprocess.run(command, check=True, capture_output=True, text=True, cwd=folder, env=env)
        rows.append(json.loads(result.stdout.splitlines()[-1]))
        r = rows[-1]
        label = f"tiled at {r['tile']} ({r['tiles']} tiles)" if r["tile"] else "untiled"
        print(
            f"{r['size']:5d} px {label:24s} device share {r['device_share_mib']:8.1f} MiB  "
            f"(L-BFGS {r['optimiser_state_mib']:.0f} MiB; phases {r['phases_mib']})  "
            f"one evaluation {r['evaluation_s']:.1f} s on {r['device']} ({r['precision']})",
            flush=True,
        )
    print(f"ratio tiled/untiled: {rows[1]['device_share_mib'] / rows[0]['device_share_mib']:.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=1024, help="the large (tiled) size")
    parser.add_argument("--tile", type=int, default=256)
    parser.add_argument("--steps", type=int, default=3, help="evaluations per run")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--untiled-large", action="store_true", help="also run the large size untiled")
    parser.add_argument("--share", action="store_true", help="measure the device's share (see above)")
    parser.add_argument("--measure", nargs=2, type=int, metavar=("SIZE", "TILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        size, tile = args.measure
        print(json.dumps(measure_share(Path.cwd(), size, tile or None, args.device)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if args.share:
            share(Path(tmp), args.size, args.tile, args.device)
            return
        runs = [
            (args.tile, ()),
            (args.size, ("--tile", str(args.tile))),
            (args.size, ("--tile", str(args.tile), "--lbfgs-history", "2")),
        ]
        if args.untiled_large:
            runs += [(args.size, ()), (args.size, ("--lbfgs-history", "2"))]
        for size, extra in runs:
            m = run(Path(tmp), size, args.steps, args.device, *extra)
            stage = m["stages"][-1]
            memory = ", ".join(f"{k} {v:.0f} MiB" for k, v in m["peak_memory_mb"].items())
            print(
                f"{size:5d} px {' '.join(extra) or 'untiled':30s} tiles {stage.get('tiles', 1):3d}  "
                f"{m['timings_s']['per_evaluation']:6.2f} s/evaluation  peak {memory}  on {m['device']}",
                flush=True,
            )


if __name__ == "__main__":
    main()
