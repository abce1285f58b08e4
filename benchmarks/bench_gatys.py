"""How close is a Gatys loss evaluation to the cost of the network itself?

In one process, alternating blocks so that machine noise hits both sides alike, time:

- bare: a forward and backward pass of the same truncated VGG-19 on the same input (what any
  implementation must pay per evaluation), and
- ours: one loss evaluation inside :func:`pipeline.gatys.transfer` (forward, content and Gram
  style losses, backward, and the optimiser's own step),

and print the median of each and their ratio (goal: <= 1.05 on a CPU at 256 px).

With ``--full`` it also times whole transfers (``--full-size``, default 512 px, ``--full-steps``,
default 300 evaluations), wall clock from tensors on the device to the result, for each precision
(fp32 and, on CUDA, bf16). Random weights: the cost does not depend on their values.

    python benchmarks/bench_gatys.py                 # CPU ratio at 256 px
    python benchmarks/bench_gatys.py --full          # on a GPU machine: also 512 px / 300 evals
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

from pipeline.device import memory_format, resolve_device, resolve_precision
from pipeline.gatys import GatysConfig, build_encoder, transfer


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bare_per_eval(encoder: torch.nn.Module, image: torch.Tensor, evals: int) -> float:
    device = image.device
    x = image.clone().requires_grad_(True)
    _sync(device)
    start = time.perf_counter()
    for _ in range(evals):
        x.grad = None
        out = encoder.body((x - encoder.mean) / encoder.std)
        out.backward(torch.ones_like(out))
    _sync(device)
    return (time.perf_counter() - start) / evals


def ours_per_eval(encoder: torch.nn.Module, content: torch.Tensor, style: torch.Tensor, config: GatysConfig) -> float:
    return transfer(content, style, config, encoder=encoder).timings["per_evaluation"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--evals", type=int, default=10, help="evaluations per timed block")
    parser.add_argument("--blocks", type=int, default=5, help="timed blocks per side (alternating)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--precision", default="fp32", help="precision of the ratio measurement")
    parser.add_argument("--full", action="store_true", help="also time whole transfers")
    parser.add_argument("--full-size", type=int, default=512)
    parser.add_argument("--full-steps", type=int, default=300)
    args = parser.parse_args()

    device = resolve_device(args.device)
    precision = resolve_precision(args.precision, device)
    generator = torch.Generator().manual_seed(0)
    shape = (1, 3, args.size, args.size)
    content = torch.rand(shape, generator=generator)
    style = torch.rand(shape, generator=generator)
    config = GatysConfig(size=args.size, steps=args.evals, device=str(device), precision=precision)
    encoder = build_encoder(config, weights="random")
    layout = memory_format(device)  # the layout transfer() uses
    encoder = encoder.to(device=device, memory_format=layout)
    image = content.to(device=device, memory_format=layout)

    print(f"device {device}, precision {precision}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{args.size} px, {args.blocks} blocks x {args.evals} evaluations per side, random weights")
    ours_per_eval(encoder, content, style, config)  # warm-up: allocator, cudnn autotune
    with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
        bare_per_eval(encoder, image, 2)
    bare, ours = [], []
    for block in range(args.blocks):
        # Alternate which side goes first, so a slow drift of the machine favours neither.
        for side in ("bare", "ours") if block % 2 == 0 else ("ours", "bare"):
            if side == "bare":
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
                    bare.append(bare_per_eval(encoder, image, args.evals))
            else:
                ours.append(ours_per_eval(encoder, content, style, config))
    b, o = statistics.median(bare), statistics.median(ours)
    paired = statistics.median(x / y for x, y in zip(ours, bare, strict=True))
    print(f"bare VGG forward+backward: {b * 1000:8.1f} ms/eval (blocks: {', '.join(f'{t * 1000:.1f}' for t in bare)})")
    print(f"stylesnake transfer:       {o * 1000:8.1f} ms/eval (blocks: {', '.join(f'{t * 1000:.1f}' for t in ours)})")
    print(f"ratio ours/bare: {o / b:.3f} (medians), {paired:.3f} (median of paired blocks); goal <= 1.05 on CPU")

    if args.full:
        precisions = ["fp32", "bf16"] if device.type == "cuda" else ["fp32"]
        shape = (1, 3, args.full_size, args.full_size)
        content = torch.rand(shape, generator=generator)
        style = torch.rand(shape, generator=generator)
        for p in precisions:
            cfg = GatysConfig(size=args.full_size, steps=args.full_steps, device=str(device), precision=p)
            transfer(content, style, GatysConfig(size=args.full_size, steps=5, device=str(device), precision=p),
                     encoder=encoder)  # fmt: skip
            _sync(device)
            start = time.perf_counter()
            result = transfer(content, style, cfg, encoder=encoder)
            _sync(device)
            wall = time.perf_counter() - start
            print(
                f"full transfer {args.full_size} px, {result.evaluations} evals, {p}: {wall:.2f} s wall "
                f"({result.timings['per_evaluation'] * 1000:.2f} ms/eval)"
            )
            if device.type == "cuda":
                print(f"  peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
                torch.cuda.reset_peak_memory_stats(device)


if __name__ == "__main__":
    main()
