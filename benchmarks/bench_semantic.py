"""Semantic masks: what each supported scene parser costs per image at the working size (512 px),
on this machine's CPU (and on a GPU when there is one).

Weights cannot be downloaded here, so each model is built from its published configuration with
random weights: the cost of a forward pass does not depend on the weights' values. Each model runs
in a fresh process (its peak resident memory is its own); the time is the median of three images
after one warm-up.

    .venv/bin/python benchmarks/bench_semantic.py
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

#: Our name → the architecture's published configuration (transformers), or torchvision's builder.
CONFIGS = {
    "upernet-convnext-tiny": {"kind": "upernet", "depths": [3, 3, 9, 3], "hidden_sizes": [96, 192, 384, 768]},
    "upernet-convnext-small": {"kind": "upernet", "depths": [3, 3, 27, 3], "hidden_sizes": [96, 192, 384, 768]},
    "segformer-b0": {"kind": "segformer", "depths": [2, 2, 2, 2], "hidden_sizes": [32, 64, 160, 256], "decoder": 256},
    "segformer-b2": {"kind": "segformer", "depths": [3, 4, 6, 3], "hidden_sizes": [64, 128, 320, 512], "decoder": 768},
    "deeplabv3 resnet50 (torchvision, VOC)": {"kind": "deeplab"},
}

_CHILD = r"""
import json, resource, sys, time
import numpy as np, torch
sys.path.insert(0, sys.argv[3])
from pipeline.masks.parsers import ADE20K, Parser
from pipeline.masks.semantic import group_scores, load_groups

spec, device = json.loads(sys.argv[1]), sys.argv[2]
if spec["kind"] == "upernet":
    from transformers import ConvNextConfig, UperNetConfig, UperNetForSemanticSegmentation
    backbone = ConvNextConfig(depths=spec["depths"], hidden_sizes=spec["hidden_sizes"],
                              out_features=["stage1", "stage2", "stage3", "stage4"])
    network = UperNetForSemanticSegmentation(UperNetConfig(backbone_config=backbone, num_labels=150,
                                                           hidden_size=512, auxiliary_in_channels=384))
    call, classes = (lambda x: network(pixel_values=x).logits), ADE20K
elif spec["kind"] == "segformer":
    from transformers import SegformerConfig, SegformerForSemanticSegmentation
    network = SegformerForSemanticSegmentation(SegformerConfig(num_labels=150, depths=spec["depths"],
                                               hidden_sizes=spec["hidden_sizes"], decoder_hidden_size=spec["decoder"]))
    call, classes = (lambda x: network(pixel_values=x).logits), ADE20K
else:
    from torchvision.models.segmentation import deeplabv3_resnet50
    network = deeplabv3_resnet50(weights=None, weights_backbone=None, num_classes=21)
    call, classes = (lambda x: network(x)["out"]), tuple(f"class{i}" for i in range(21))
network = network.eval().to(device)
parameters = sum(p.numel() for p in network.parameters())

def scores(image):
    x = torch.from_numpy(np.array(image, dtype=np.float32)).permute(2, 0, 1)[None].to(device) / 255
    with torch.inference_mode():
        out = call(x)[0].float()
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return out.cpu().numpy()

parser, groups = Parser("bench", classes, "", scores), load_groups()
rng = np.random.default_rng(0)
images = [(rng.random((384, 512, 3)) * 255).astype(np.uint8) for _ in range(4)]
group_scores(images[0], parser, groups)
seconds = []
for image in images[1:]:
    start = time.perf_counter()
    group_scores(image, parser, groups)
    seconds.append(time.perf_counter() - start)
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
gpu = torch.cuda.max_memory_allocated() / 2**20 if device.startswith("cuda") else None
print(json.dumps({"parameters": parameters, "seconds": float(np.median(seconds)), "rss_mib": peak, "gpu_mib": gpu}))
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", help="cpu, or cuda on a GPU machine")
    args = parser.parse_args()
    print(
        f"Per 512x384 image on {args.device} (threads: {os.environ.get('OMP_NUM_THREADS', 'default')}), "
        "random weights, the median of three after a warm-up:"
    )
    print(
        "| model | parameters | seconds | peak memory (process) |" + (" GPU memory |" if args.device != "cpu" else "")
    )
    print("|---|---|---|---|" + ("---|" if args.device != "cpu" else ""))
    for name, spec in CONFIGS.items():
        out = subprocess.run(
            [sys.executable, "-c", _CHILD, json.dumps(spec), args.device, str(ROOT)],
            capture_output=True,
            text=True,
            check=True,
        )
        found = json.loads(out.stdout.strip().splitlines()[-1])
        gpu = f" {found['gpu_mib']:.0f} MiB |" if found["gpu_mib"] is not None else ""
        size = f"{found['parameters'] / 1e6:.1f} M"
        print(f"| {name} | {size} | {found['seconds']:.2f} | {found['rss_mib']:.0f} MiB |{gpu}", flush=True)


if __name__ == "__main__":
    main()
