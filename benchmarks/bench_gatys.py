"""How close is a Gatys loss evaluation to the cost of the network itself?

In one process, time

- bare: a forward and backward pass of the same truncated VGG-19 on the same input (what any
  implementation must pay per evaluation), and
- ours: one evaluation inside :func:`pipeline.gatys.transfer` (forward, content and Gram style
  losses, backward, and the L-BFGS step with its history full),

interleaved: one long transfer runs ``--warm`` evaluations to fill the L-BFGS history, then every
``--evals`` evaluations its progress callback times a block of bare passes, so machine noise hits
both sides alike. Prints the medians and their ratio (goal: <= 1.05 on a CPU at 256 px).

With ``--full`` it also times whole transfers (``--full-size``, default 512 px, ``--full-steps``,
default 300 evaluations), wall clock from tensors on the device to the result, for each precision
(fp32 and, on CUDA, bf16). Random weights: the cost does not depend on their values.

    python benchmarks/bench_gatys.py                 # CPU ratio at 256 px
    python benchmarks/bench_gatys.py --full          # on a GPU machine: also 512 px / 300 evals
"""

import argparse
import functools
import statistics
import time

import torch

from pipeline.device import memory_format, resolve_device, resolve_precision
from pipeline.gatys import LBFGS_HISTORY, GatysConfig, build_encoder, transfer


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--evals", type=int, default=4, help="evaluations per timed block")
    parser.add_argument("--blocks", type=int, default=16, help="timed blocks per side (alternating)")
    parser.add_argument(
        "--warm", type=int, default=LBFGS_HISTORY, help="evaluations before timing (fill L-BFGS history)"
    )
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
    encoder = build_encoder(GatysConfig(size=args.size), weights="random")
    layout = memory_format(device)  # the layout transfer() uses
    encoder = encoder.to(device=device, memory_format=layout)
    image = content.to(device=device, memory_format=layout)

    print(f"device {device}, precision {precision}, torch {torch.__version__}, threads {torch.get_num_threads()}")
    print(f"{args.size} px, {args.warm} warm-up evaluations, then {args.blocks} blocks x {args.evals} per side")
    autocast = functools.partial(torch.autocast, device.type, dtype=torch.bfloat16, enabled=precision == "bf16")
    with autocast():
        bare_per_eval(encoder, image, 2)  # warm-up: allocator, cudnn autotune
    bare: list[float] = []
    ours: list[float] = []
    mark = [0.0]

    def interleave(step: int, steps: int, losses: object) -> None:
        if step < args.warm or (step - args.warm) % args.evals:
            return
        now = time.perf_counter()
        if step > args.warm:
            ours.append((now - mark[0]) / args.evals)
            with autocast():
                bare.append(bare_per_eval(encoder, image, args.evals))
        mark[0] = time.perf_counter()

    config = GatysConfig(
        size=args.size, steps=args.warm + args.evals * args.blocks + 1, device=str(device), precision=precision
    )
    transfer(content, style, config, encoder=encoder, progress=interleave)
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
