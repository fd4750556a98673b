"""The torchvision compatibility step: real imports in fresh interpreters, real operators."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.hf


def _py(code: str, timeout: float = 240) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          cwd=REPO, timeout=timeout)


@pytest.mark.e2e
def test_import_fails_without_step_and_works_after_it():
    if importlib.util.find_spec("torchvision") is None:  # never import it here: that is the bug
        pytest.skip("torchvision is not installed")
    # Without the step: do the compiled ops load here (GPU box / matching CPU build), and does the
    # plain import work?
    bare = _py("""
        import importlib.util, importlib.machinery, json, torch
        loc = importlib.util.find_spec("torchvision").submodule_search_locations[0]
        spec = importlib.machinery.FileFinder(loc, (importlib.machinery.ExtensionFileLoader,
                                              importlib.machinery.EXTENSION_SUFFIXES)).find_spec("_C")
        try:
            torch.ops.load_library(spec.origin)
            native = True
        except OSError:
            native = False
        try:
            import torchvision
            error = None
        except Exception as e:
            error = f"{type(e).__name__}: {e}"
        print(json.dumps({"native": native, "error": error}))
    """)
    assert bare.returncode == 0, bare.stderr
    res = json.loads(bare.stdout.strip().splitlines()[-1])
    native = res["native"]
    if native:
        assert res["error"] is None
    else:
        assert "torchvision::nms" in res["error"]

    proc = _py("""
        import json, sys
        import torch
        torch.set_num_threads(1)
        from mosseval.torchvision_compat import ensure_torchvision, torchvision_status
        assert torchvision_status() is None
        first = ensure_torchvision()
        second = ensure_torchvision()  # idempotent
        import torchvision
        import torchvision.transforms.v2.functional  # what the Qwen2-VL processors use
        boxes = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30], [0, 0, 10, 9.]])
        scores = torch.tensor([0.9, 0.8, 0.7, 0.95])
        keep = torch.ops.torchvision.nms(boxes, scores, 0.5).tolist()
        import numpy as np
        from transformers import Qwen2VLVideoProcessor
        vp = Qwen2VLVideoProcessor(patch_size=8, merge_size=2, temporal_patch_size=2,
                                   min_pixels=256, max_pixels=4096, cap_pixels_per_frame=True)
        video = np.random.default_rng(0).integers(0, 255, (4, 32, 48, 3), dtype=np.uint8)
        out = vp(videos=[video], do_sample_frames=False, return_tensors="pt")
        print(json.dumps({"first": first, "second": second, "keep": keep,
                          "grid": out["video_grid_thw"].tolist(),
                          "has_ops": torchvision.extension._has_ops()}))
    """)
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout.strip().splitlines()[-1])
    assert res["first"] == res["second"] == ("native" if native else "patched")
    assert res["has_ops"] is native  # the patch never pretends the compiled ops exist
    assert res["keep"] == [3, 2]  # box 0 and 1 overlap box 3 (IoU > 0.5); box 2 is apart
    assert res["grid"] == [[2, 4, 6]]  # 4 frames / temporal patch 2; 32x48 / patch 8


def test_absent_torchvision_reports_absent():
    proc = _py("""
        import importlib.util
        real = importlib.util.find_spec
        importlib.util.find_spec = lambda name, *a: None if name == "torchvision" else real(name, *a)
        from mosseval.torchvision_compat import ensure_torchvision
        import sys
        print(ensure_torchvision(), "torch" in sys.modules)
    """, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["absent", "False"]  # and torch was not even imported


def _reference_nms(boxes, scores, thr):
    import numpy as np

    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))
    keep: list[int] = []
    for i in order:
        ok = True
        for j in keep:
            xx1, yy1 = max(boxes[i][0], boxes[j][0]), max(boxes[i][1], boxes[j][1])
            xx2, yy2 = min(boxes[i][2], boxes[j][2]), min(boxes[i][3], boxes[j][3])
            inter = max(0.0, xx2 - xx1) * max(0.0, yy2 - yy1)
            a_i = (boxes[i][2] - boxes[i][0]) * (boxes[i][3] - boxes[i][1])
            a_j = (boxes[j][2] - boxes[j][0]) * (boxes[j][3] - boxes[j][1])
            if inter / (a_i + a_j - inter) > thr:
                ok = False
                break
        if ok:
            keep.append(i)
    return np.array(keep, dtype=np.int64)


def test_fallback_nms_matches_reference():
    torch = pytest.importorskip("torch")
    import numpy as np

    from mosseval.torchvision_compat import _nms_cpu, _qnms_cpu

    rng = np.random.default_rng(7)
    for _ in range(20):
        n = int(rng.integers(0, 40))
        xy = rng.uniform(0, 50, (n, 2))
        wh = rng.uniform(1, 20, (n, 2))
        boxes = np.concatenate([xy, xy + wh], axis=1)
        scores = rng.permutation(n).astype(np.float64)  # distinct scores: a unique answer
        thr = float(rng.choice([0.1, 0.3, 0.5, 0.7]))
        got = _nms_cpu(torch.tensor(boxes, dtype=torch.float32), torch.tensor(scores), thr)
        assert got.dtype == torch.long
        np.testing.assert_array_equal(got.numpy(), _reference_nms(boxes.astype(np.float32).astype(float),
                                                                  scores, thr))
    # qnms receives integer representations; same selection on integer boxes.
    ib = torch.tensor([[0, 0, 10, 10], [1, 1, 11, 11], [20, 20, 30, 30]], dtype=torch.uint8)
    assert _qnms_cpu(ib, torch.tensor([3, 2, 1], dtype=torch.uint8), 0.5).tolist() == [0, 2]
