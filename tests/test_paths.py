"""Dataset paths may not leave their data root: by text (``..``, absolute) or by symbolic link."""

from __future__ import annotations

import pytest

from mosseval.errors import UnsafePathError
from mosseval.paths import MEDIA_ROOTS_ENV, confine, is_path_component, safe_join


@pytest.fixture
def root(tmp_path):
    r = tmp_path / "data"
    (r / "v").mkdir(parents=True)
    (r / "v" / "ok.mp4").write_bytes(b"x")
    (tmp_path / "secret.txt").write_text("private")
    (r / "v" / "leak.mp4").symlink_to(tmp_path / "secret.txt")
    (r / "linked-dir").symlink_to(tmp_path)
    (r / "inside.mp4").symlink_to(r / "v" / "ok.mp4")
    return r


@pytest.mark.parametrize("rel", ["v/leak.mp4", "linked-dir/secret.txt"])
def test_symlink_out_of_the_root_is_refused(root, rel):
    with pytest.raises(UnsafePathError, match="outside the data root"):
        safe_join(root, rel)


@pytest.mark.parametrize("rel", ["../secret.txt", "/etc/passwd", "~/x", "v/../../secret.txt", "C:/x", ""])
def test_textual_escapes_are_refused(root, rel):
    with pytest.raises(UnsafePathError):
        safe_join(root, rel)


def test_links_that_stay_inside_are_followed(root):
    assert safe_join(root, "inside.mp4") == root / "inside.mp4"
    assert safe_join(root, "v/ok.mp4") == root / "v" / "ok.mp4"
    assert safe_join(root, "v/missing.mp4") == root / "v" / "missing.mp4"  # missing: reported when opened


def test_a_symlinked_root_is_fine(root, tmp_path):
    alias = tmp_path / "alias"
    alias.symlink_to(root)
    assert safe_join(alias, "v/ok.mp4") == alias / "v" / "ok.mp4"


def test_hugging_face_cache_links_into_blobs(tmp_path):
    repo = tmp_path / "hub" / "datasets--OpenGVLab--MVBench"
    (repo / "blobs").mkdir(parents=True)
    (repo / "blobs" / "abc123").write_bytes(b"video")
    snap = repo / "snapshots" / "rev1" / "video"
    snap.mkdir(parents=True)
    (snap / "a.mp4").symlink_to(repo / "blobs" / "abc123")
    assert safe_join(repo / "snapshots" / "rev1", "video/a.mp4").name == "a.mp4"


def test_extra_media_roots(root, tmp_path, monkeypatch):
    monkeypatch.setenv(MEDIA_ROOTS_ENV, str(tmp_path))
    assert confine(root, root / "v" / "leak.mp4").name == "leak.mp4"


@pytest.mark.parametrize("name,ok", [("run-1", True), ("a.b", True), ("..", False), (".", False), ("a/b", False),
                                     ("/abs", False), ("", False), ("C:x", False), ("a\\b", False),
                                     ("a\nb", False), ("tab\there", False), ("nul\x00", False), ("x" * 255, True),
                                     ("x" * 256, False), ("ablation-ü", True)])
def test_path_component(name, ok):
    assert is_path_component(name) is ok
