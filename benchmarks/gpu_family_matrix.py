"""The family matrix on a GPU: every tiny family in bf16 with SDPA (and flash-attention 2 where the
``flash_attn`` package is installed), plus the vLLM backend on the tiny Qwen2.5-VL when vLLM is present.

For each family: build the tiny checkpoint (offline), load it through the ``hf`` backend on
``cuda``, generate for a few requests of 8 frames of 32x32 pixels, and check that the frames reached
the model (pixel inputs, visual placeholder tokens). Prints one line per (family, attention) and a
JSON summary (``--out FILE`` also writes it). Exit status 0 when every attempted configuration ran,
1 otherwise. Nothing here runs in the test suite; on a machine without CUDA it says so and exits 0.

    python benchmarks/gpu_family_matrix.py [--families qwen2.5-vl,gemma3] [--samples 4] [--out gpu.json]

It covers every family ``mosseval.models.tiny_families`` builds (40 at the last count, the second round's
included). ``--device cpu --dtype float32`` is a smoke test of this script itself (no GPU numbers).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
import traceback
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.families import EXPECTED_VISUAL_TOKENS  # noqa: E402


def _requests(n: int, frames: int, tokens: int):
    import numpy as np

    from mosseval.models.base import Request
    from mosseval.records import FrameInfo, GenerationSpec, Sample, TaskSpec
    from mosseval.video import Frames

    task = TaskSpec(name="gpu-matrix", version="1")
    out = []
    for i in range(n):
        arr = np.random.default_rng(i).integers(0, 256, (frames, 32, 32, 3), dtype=np.uint8)
        idx = [k * 15 for k in range(frames)]
        info = FrameInfo(indices=idx, timestamps=[k / 30 for k in idx], decoder="synthetic", source_fps=30.0,
                         sampled_fps=2.0, num_source_frames=frames * 15, width=32, height=32)
        out.append(Request(sample=Sample(id=f"s{i}", task=task.name, question="What happens?", answer="A"), task=task,
                           messages=[{"role": "user", "content": [{"type": "video"},
                                                                  {"type": "text", "text": "What happens next?"}]}],
                           frames=Frames(arr, info), generation=GenerationSpec(max_new_tokens=tokens), seed=i))
    return out


def run_hf(name: str, path: Path, attn: str, samples: int, tokens: int, device: str = "cuda",
           dtype: str = "bfloat16") -> dict:
    from mosseval.models.registry import load_model, resolve

    t0 = time.perf_counter()
    model = load_model(resolve(str(path), {"dtype": dtype, "device": device, "attn_implementation": attn,
                                           "batch_size": samples}))
    load_s = time.perf_counter() - t0
    try:
        reqs = _requests(samples, 8, tokens)
        t1 = time.perf_counter()
        out = model.generate(reqs)
        gen_s = time.perf_counter() - t1
        errors = [r.error.message for r in out if r.error is not None]
        want = EXPECTED_VISUAL_TOKENS.get(name)  # what the CPU matrix asserts for 8 frames of 32x32
        got = [r.extra.get("visual_tokens") for r in out]
        if not errors and want is not None and any(v != want for v in got):
            errors = [f"visual tokens {got}, expected {want} per sample"]
        return {"family": name, "backend": "hf", "attn": model.runtime_info().get("attn_implementation"),
                "dtype": str(model.model.dtype), "ok": not errors, "errors": errors[:2], "load_s": round(load_s, 2),
                "generate_s": round(gen_s, 3), "visual_tokens": [r.extra.get("visual_tokens") for r in out],
                "frames_as": [r.frames_as for r in out]}
    finally:
        model.close()


def run_vllm(path: Path, samples: int, tokens: int) -> dict:
    from mosseval.models.registry import load_model, resolve

    t0 = time.perf_counter()
    model = load_model(resolve(f"vllm:{path}", {"gpu_memory_utilization": 0.3, "max_model_len": 4096,
                                                "enforce_eager": True}))
    try:
        out = model.generate(_requests(samples, 8, tokens))
        errors = [r.error.message for r in out if r.error is not None]
        return {"family": "qwen2.5-vl", "backend": "vllm", "ok": not errors, "errors": errors[:2],
                "seconds": round(time.perf_counter() - t0, 2)}
    finally:
        model.close()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--families", default="", help="comma-separated (default: all)")
    ap.add_argument("--samples", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=8)
    ap.add_argument("--out", type=Path)
    ap.add_argument("--device", default="cuda", help="cuda (default); cpu only smoke-tests this script")
    ap.add_argument("--dtype", default="bfloat16")
    args = ap.parse_args()

    from mosseval.torchvision_compat import ensure_torchvision

    ensure_torchvision()
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: nothing to run (this check needs a GPU)")
        return 0
    from mosseval.models.tiny_families import FAMILIES, ensure_family

    names = [n for n in args.families.split(",") if n] or list(FAMILIES)
    on_gpu = args.device.startswith("cuda")
    attns = ["sdpa"] + (["flash_attention_2"] if on_gpu and importlib.util.find_spec("flash_attn") else [])
    results = []
    with tempfile.TemporaryDirectory(prefix="gpu-matrix-") as cache:
        for name in names:
            path = ensure_family(name, Path(cache))
            for attn in attns:
                try:
                    res = run_hf(name, path, attn, args.samples, args.max_new_tokens, args.device, args.dtype)
                except Exception as exc:  # noqa: BLE001 - report and go on with the next family
                    res = {"family": name, "backend": "hf", "attn": attn, "ok": False,
                           "errors": [f"{type(exc).__name__}: {exc}"], "trace": traceback.format_exc(limit=3)}
                results.append(res)
                print(f"{'ok  ' if res['ok'] else 'FAIL'} {name:18s} hf/{attn:18s} "
                      f"{res.get('generate_s', '')}s visual={res.get('visual_tokens')} {res.get('errors') or ''}",
                      flush=True)
        if on_gpu and importlib.util.find_spec("vllm"):
            try:
                res = run_vllm(ensure_family("qwen2.5-vl", Path(cache)), args.samples, args.max_new_tokens)
            except Exception as exc:  # noqa: BLE001
                res = {"family": "qwen2.5-vl", "backend": "vllm", "ok": False,
                       "errors": [f"{type(exc).__name__}: {exc}"]}
            results.append(res)
            print(f"{'ok  ' if res['ok'] else 'FAIL'} qwen2.5-vl         vllm {res.get('errors') or ''}", flush=True)
        else:
            print("vLLM backend not run (it needs --device cuda and the vllm package)")
    summary = {"device": torch.cuda.get_device_name(0) if on_gpu else args.device, "torch": torch.__version__,
               "results": results}
    if args.out:
        args.out.write_text(json.dumps(summary, indent=2))
    print(json.dumps({"ran": len(results), "failed": sum(not r["ok"] for r in results)}))
    return 0 if all(r["ok"] for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
