"""How far the golden record's outputs move between machines, and how far a real change moves them:
the measurements behind the tolerances of pipeline/golden.py (the record the tests hold outputs to).

Another CPU cannot be borrowed, so its floating point is imitated on this one: fewer threads
(another reduction order), PyTorch's kernels without AVX2 (``ATEN_CPU_CAPABILITY=default``: other
vector widths, no fused multiply-add), oneDNN's convolutions limited to SSE4.1, MKL limited to SSE4.2.
Each setting makes every output in a fresh process; each is compared with the default run. Then
the same for real changes of results (the first transfer with a slightly different style weight,
one evaluation more, one training step more, another style size for the targets), which the
tolerances must still catch.

    .venv/bin/python benchmarks/bench_golden.py            # prints the table (about 6 minutes)
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline import golden as record  # noqa: E402

#: Settings that imitate another CPU's floating point.
MACHINES = {
    "1 thread": {"OMP_NUM_THREADS": "1"},
    "no AVX2 kernels": {"ATEN_CPU_CAPABILITY": "default"},
    "oneDNN SSE4.1": {"ONEDNN_MAX_CPU_ISA": "SSE41"},
    "MKL SSE4.2": {"MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
    "all of them": {
        "OMP_NUM_THREADS": "1",
        "ATEN_CPU_CAPABILITY": "default",
        "ONEDNN_MAX_CPU_ISA": "SSE41",
        "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
    },
}
#: Real changes of results (an output, and the flags added to the command that makes it), which
#: the record must catch.
EDITS = {
    "transfer: style weight x1.01": ("plain.png", ["--style-weight", "1.01e6"]),
    "transfer: style weight x1.1": ("plain.png", ["--style-weight", "1.1e6"]),
    "transfer: content weight x1.1": ("plain.png", ["--content-weight", "1.1"]),
    "transfer: one more evaluation": ("plain.png", ["--steps", "5"]),
    "transfer: another seed": ("plain.png", ["--seed", "1"]),
    "style targets: style size 44": ("targets.pt", ["--style-size", "44"]),
    "style targets: avg pooling": ("targets.pt", ["--pooling", "avg"]),
    "train: one more step": ("model.pth", ["--steps", "3"]),
    "train: style weight x1.1": ("model.pth", ["--style-weight", "1.1e10"]),
}

_CHILD = """
import json, sys
from pathlib import Path
from pipeline import golden as record
from pipeline.cli import main

def cli(*argv):
    assert main(["-q", *map(str, argv)]) == 0, argv

root = Path(sys.argv[1])
edit = json.loads(sys.argv[2])
out = record.make_outputs(root, cli, edit=tuple(edit) if edit else None)
(root / "found.json").write_text(json.dumps(record.fingerprint(out, root / "pixels")))
"""


def _run(root: Path, env: dict[str, str], edit: tuple[str, list[str]] | None) -> tuple[dict, Path]:
    root.mkdir(parents=True)
    environment = {**os.environ, "OMP_NUM_THREADS": "2", **env, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", _CHILD, str(root), json.dumps(edit)], env=environment, check=True)
    return json.loads((root / "found.json").read_text()), root / "out"


def _row(what: str, changes: dict[str, dict]) -> str:
    worst = {key: max(c[key] for c in changes.values()) for key in ("moved", "mean", "tensor", "number")}
    structure = [name for name, c in changes.items() if c["structure"]]
    failing = [name for name, c in changes.items() if record.verdict(c)]
    return (
        f"| {what} | {100 * worst['moved']:.2f} % | {worst['mean']:.3f} | {worst['tensor']:.1e} | "
        f"{worst['number']:.1e} | {', '.join(structure) or '-'} | {len(failing)} |"
    )


def main() -> None:
    argparse.ArgumentParser(description=__doc__.splitlines()[0]).parse_args()
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        reference, _ = _run(work / "reference", {}, None)
        print("Largest change of any output from the default run (2 threads, this CPU's kernels):")
        print("| run | pixels moved > 2 levels | mean change (levels) | tensors (rel. RMS) | number (rel.) "
              "| structure | outputs failing |")  # fmt: skip
        print("|---|---|---|---|---|---|---|")
        for i, (what, env) in enumerate(MACHINES.items()):
            found, out = _run(work / f"machine{i}", env, None)
            print(_row(what, record.changes(reference, found, work / "reference" / "pixels", out)), flush=True)
        for i, (what, edit) in enumerate(EDITS.items()):
            found, out = _run(work / f"edit{i}", {}, edit)
            made = {k: v for k, v in reference.items() if k in found}
            print(_row(what, record.changes(made, found, work / "reference" / "pixels", out)), flush=True)
        tolerances = (
            f"tolerances: pixels moved <= {100 * record.MOVED_SHARE:g} %, mean <= {record.MEAN_LEVELS}, "
            f"tensor <= {record.TENSOR_RTOL:g}, number <= {record.NUMBER_RTOL:g}"
        )
        print(tolerances)


if __name__ == "__main__":
    main()
