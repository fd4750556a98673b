"""The video pipeline on real files written by PyAV (tests/support/videos.py)."""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pytest

from mosseval import video as V  # noqa: E402
from mosseval.errors import ConfigError, MediaError, MissingDependencyError, UnsafePathError  # noqa: E402
from mosseval.records import FrameSpec, VideoRef  # noqa: E402
from mosseval.video import compute_indices, probe, resize_shape, sample_frames  # noqa: E402
from tests.support import videos  # noqa: E402
from tests.support.videos import recover_index  # noqa: E402

N_SRC = 90  # frames per test clip (3 s at 30 fps)
FOLDER_N = 40  # frames in the JPEG folder (13.3 s at 3 fps)


@pytest.fixture(scope="module")
def root(tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("media")
    videos.write_mp4(d / "clip.mp4", n=N_SRC, gop=10, bframes=2)
    videos.write_webm(d / "clip.webm", n=N_SRC)
    videos.write_avi(d / "clip.avi", n=N_SRC, codec="mpeg4")
    videos.write_avi(d / "mjpeg.avi", n=N_SRC, codec="mjpeg")
    videos.write_frame_folder(d / "frames", n=FOLDER_N, first_index=1)
    videos.write_frame_folder(d / "pngs", n=12, first_index=0, ext="png", digits=3)
    videos.write_truncated_mp4(d / "truncated.mp4", n=N_SRC, keep_fraction=0.55, gop=10, bframes=2)
    videos.write_mp4(d / "moov_at_end.mp4", n=N_SRC, faststart=False)
    videos.truncate_file(d / "moov_at_end.mp4", 0.5)
    videos.write_not_a_video(d / "notes.mp4")
    (d / "empty_folder").mkdir()
    bad = videos.write_frame_folder(d / "bad_frames", n=6, first_index=1)
    videos.truncate_file(bad / "00004.jpg", 0.05)
    V.clear_index_cache()
    return d


def decode_all(path: Path) -> list[np.ndarray]:
    import av

    with av.open(str(path)) as c:
        return [f.to_ndarray(format="rgb24") for f in c.decode(video=0)]


# ------------------------------------------------------------------ independent references


def ref_videochat2(bound, fps, max_frame, first_idx, n):
    """VideoChat2's MVBench get_index, written independently with numpy."""
    start, end = bound if bound else (-100000, 100000)
    start_idx = max(first_idx, np.round(start * fps))
    end_idx = min(np.round(end * fps), max_frame)
    seg = float(end_idx - start_idx) / n
    return (start_idx + seg / 2 + np.round(seg * np.arange(n))).astype(int).tolist()


# ------------------------------------------------------------------ compute_indices


def test_uniform_centres_of_equal_bins():
    spec = FrameSpec(strategy="uniform", num_frames=8)
    assert compute_indices(spec, 90, 30.0) == np.floor((np.arange(8) + 0.5) * 90 / 8).astype(int).tolist()
    # bounded: bins over [1 s, 2 s) = frames [30, 60)
    got = compute_indices(spec, 90, 30.0, start=1.0, end=2.0)
    assert got == (30 + np.floor((np.arange(8) + 0.5) * 30 / 8)).astype(int).tolist()
    # more frames than the window holds: duplicates, all inside the window
    dense = compute_indices(FrameSpec(strategy="uniform", num_frames=16), 90, 30.0, start=1.0, end=1.2)
    assert len(dense) == 16 and set(dense) <= set(range(30, 36))


def test_segment_matches_videochat2_bounded_video():
    spec = FrameSpec(strategy="segment", num_frames=16)
    # 300 frames at 29.97 fps with MVBench-style start/end seconds
    for bound in [(2.5, 7.5), (0.0, 3.3), (8.1, 40.0), (0.4, 0.9)]:
        got = compute_indices(spec, 300, 29.97, start=bound[0], end=bound[1], first_index=0)
        assert got == ref_videochat2(bound, 29.97, 299, 0, 16), bound
    # unbounded: the whole video
    assert compute_indices(spec, 300, 29.97) == ref_videochat2(None, 29.97, 299, 0, 16)


def test_segment_matches_videochat2_frame_folder_and_bankers_rounding():
    spec = FrameSpec(strategy="segment", num_frames=8)
    # frame folder: fps 3, first index 1, max_frame = number of files
    for bound in [(2.5, 9.2), (3.5, 10.5), (0.0, 100.0)]:
        got = compute_indices(spec, FOLDER_N, 3.0, start=bound[0], end=bound[1], first_index=1)
        assert got == ref_videochat2(bound, 3.0, FOLDER_N, 1, 8), bound
    # start 2.5 s * 3 fps = 7.5 -> 8 (half to even); end 10.5*3=31.5 -> 32; seg = 24/8 = 3
    assert compute_indices(spec, FOLDER_N, 3.0, start=2.5, end=10.5, first_index=1) == [
        int(8 + 1.5 + 3 * i) for i in range(8)]
    # seg = 20/8 = 2.5: round(2.5) = 2 and round(7.5) = 8 (numpy/VideoChat2), not 3 and 8
    got = compute_indices(spec, 100, 10.0, start=0.0, end=2.0)
    assert got == ref_videochat2((0.0, 2.0), 10.0, 99, 0, 8)
    assert got[1] == int(0 + 1.25 + 2)


def test_segment_random_parameters_against_reference():
    rng = np.random.default_rng(7)
    for _ in range(300):
        n = int(rng.integers(5, 2000))
        fps = float(rng.choice([3.0, 24.0, 25.0, 29.97, 30.0, 60.0]))
        first = int(rng.choice([0, 1]))
        k = int(rng.integers(1, 33))
        dur = n / fps
        s = float(rng.uniform(0, dur * 0.9))
        e = float(rng.uniform(s, dur * 1.2))
        spec = FrameSpec(strategy="segment", num_frames=k)
        want = ref_videochat2((s, e), fps, first + n - 1, first, k)
        if not all(first <= i <= first + n - 1 for i in want):  # the official reader fails too
            with pytest.raises(MediaError):
                compute_indices(spec, n, fps, start=s, end=e, first_index=first)
            continue
        got = compute_indices(spec, n, fps, start=s, end=e, first_index=first)
        assert got == want


def test_segment_start_rounding_past_the_last_frame_follows_the_official_indices():
    """MVBench: a start bound that rounds past the last frame is not an error (issue 15, item 9)."""
    spec = FrameSpec(strategy="segment", num_frames=16)
    # 100 frames at 10 fps; start 9.96 s -> frame 100 > last frame 99; end 10.0 s -> 99
    got = compute_indices(spec, 100, 10.0, start=9.96, end=10.0)
    assert got == ref_videochat2((9.96, 10.0), 10.0, 99, 0, 16) == [99] * 9 + [98] * 7
    # frame folder (first index 1, 30 files at 3 fps): start 10.1 s -> frame 30 = last, end clipped
    assert compute_indices(spec, 30, 3.0, start=10.1, end=12.0, first_index=1) == \
        ref_videochat2((10.1, 12.0), 3.0, 30, 1, 16)
    # further past the end the official indices leave the video: still an error, saying why
    with pytest.raises(MediaError, match="official segment indices include frame 10[0-9]"):
        compute_indices(spec, 100, 10.0, start=10.4, end=11.0)


def test_linspace_is_mmvu():
    spec = FrameSpec(strategy="linspace", num_frames=32)
    for n in (7, 90, 1234):
        assert compute_indices(spec, n, 30.0) == np.linspace(0, n - 1, 32).astype(int).tolist()
    # bounded: frames whose timestamps fall in [1 s, 2 s)
    got = compute_indices(FrameSpec(strategy="linspace", num_frames=5), 90, 30.0, start=1.0, end=2.0)
    assert got == np.linspace(30, 59, 5).astype(int).tolist()


def test_fps_strategy_and_cap():
    one = FrameSpec(strategy="fps", fps=1.0, max_frames=64)
    assert compute_indices(one, 300, 30.0) == list(range(0, 300, 30))
    capped = FrameSpec(strategy="fps", fps=1.0, max_frames=4)
    # 10 candidates (one per second) -> 4 by uniform subsampling (bin centres 1, 3, 6, 8)
    assert compute_indices(capped, 300, 30.0) == [30, 90, 180, 240]
    two = FrameSpec(strategy="fps", fps=2.0)
    assert compute_indices(two, 300, 30.0, start=2.0, end=5.0) == list(range(60, 150, 15))
    with pytest.raises(ConfigError):
        compute_indices(FrameSpec(strategy="fps"), 300, 30.0)


def test_indices_always_clamped_into_range():
    rng = np.random.default_rng(3)
    for strategy in ("uniform", "segment", "linspace", "fps"):
        for _ in range(150):
            n = int(rng.integers(1, 500))
            fps = float(rng.uniform(1, 60))
            first = int(rng.integers(0, 3))
            spec = FrameSpec(strategy=strategy, num_frames=int(rng.integers(1, 64)), fps=2.0, max_frames=16)
            try:
                got = compute_indices(spec, n, fps, start=float(rng.uniform(0, n / fps)),
                                      end=float(rng.uniform(0, 1.5 * n / fps)), first_index=first)
            except MediaError:
                continue
            assert got and all(first <= i <= first + n - 1 for i in got)
            start_past_end = strategy == "segment" and got[0] > got[-1]  # official order kept (see below)
            assert got == sorted(got) or start_past_end


@pytest.mark.parametrize("strategy", ["uniform", "segment", "linspace", "fps"])
def test_empty_windows_raise(strategy):
    spec = FrameSpec(strategy=strategy, num_frames=8, fps=1.0)
    with pytest.raises(MediaError, match="beyond"):
        compute_indices(spec, 90, 30.0, start=5.0, end=9.0)  # the clip lasts 3 s
    with pytest.raises(MediaError, match="before|reversed|empty"):
        compute_indices(spec, 90, 30.0, start=2.0, end=1.0)
    with pytest.raises(MediaError, match="no decodable frames"):
        compute_indices(spec, 0, 30.0)
    with pytest.raises(MediaError, match="frame rate"):
        compute_indices(spec, 90, 0.0)


# ------------------------------------------------------------------ decoding real files


@pytest.mark.parametrize("name", ["clip.mp4", "clip.webm", "clip.avi", "mjpeg.avi"])
def test_decoded_frame_i_is_source_frame_i(root, name):
    fr = sample_frames(VideoRef(path=name), FrameSpec(strategy="uniform", num_frames=12), root)
    assert fr.array.dtype == np.uint8 and fr.array.shape == (12, 96, 160, 3)
    assert [recover_index(a) for a in fr.array] == fr.info.indices
    assert fr.info.indices == np.floor((np.arange(12) + 0.5) * N_SRC / 12).astype(int).tolist()
    assert fr.info.decoder == "pyav"
    assert fr.info.num_source_frames == N_SRC and fr.info.source_fps == pytest.approx(30.0)
    assert fr.info.sampled_fps == pytest.approx(12 / 3.0)
    assert fr.info.timestamps == pytest.approx([i / 30 for i in fr.info.indices], abs=2e-3)
    assert (fr.info.width, fr.info.height) == (160, 96)


@pytest.mark.parametrize("name", ["clip.mp4", "clip.webm", "clip.avi"])
def test_seek_and_skip_decoding_is_pixel_exact(root, name):
    """Every frame, reached by seeking / skipping, equals a plain sequential decode."""
    full = decode_all(root / name)
    assert len(full) == N_SRC
    spec = FrameSpec(strategy="linspace", num_frames=N_SRC)
    fr = sample_frames(VideoRef(path=name), spec, root)
    assert fr.info.indices == list(range(N_SRC))
    assert np.array_equal(fr.array, np.stack(full))
    # sparse, late-first selections that need seeks past several keyframes
    for idx in ([85, 86, 87], [3, 47, 48, 71, 89], [12], [0, 89]):
        got = V._decode_pyav(root / name, name, V._get_index(root / name, name), idx)
        assert all(np.array_equal(got[i], full[i]) for i in idx)


def test_stream_without_timestamps_decodes_sequentially(tmp_path):
    """A raw H.264 elementary stream has no packet timestamps: frames are counted in order."""
    videos._write(tmp_path / "raw.h264", "libx264", n=60, fps=30, width=160, height=96,
                  options={"g": "10", "bf": "2", "x264-params": "mbtree=0:rc-lookahead=0"})
    p = probe(VideoRef(path="raw.h264"), tmp_path)
    assert p.num_frames == 60 and p.fps > 0
    fr = sample_frames(VideoRef(path="raw.h264"), FrameSpec(num_frames=8), tmp_path)
    assert [recover_index(a) for a in fr.array] == fr.info.indices


def test_frame_folder_mvbench_protocol(root):
    """TVQA-style folder 00001.jpg…: fps 3, first index 1, bounds in seconds."""
    ref = VideoRef(path="frames", kind="frames", start=2.5, end=9.2, fps=3, first_index=1)
    fr = sample_frames(ref, FrameSpec(strategy="segment", num_frames=8), root)
    want = ref_videochat2((2.5, 9.2), 3.0, FOLDER_N, 1, 8)
    assert fr.info.indices == want
    # file 0000k.jpg shows pattern k-1
    assert [recover_index(a) + 1 for a in fr.array] == want
    assert fr.info.decoder == "pil" and fr.info.num_source_frames == FOLDER_N
    assert fr.info.source_fps == 3.0
    assert fr.info.timestamps == pytest.approx([(i - 1) / 3 for i in want])
    # fps defaults to 3 when the reference does not say
    fr2 = sample_frames(VideoRef(path="frames", kind="frames", start=2.5, end=9.2), FrameSpec(
        strategy="segment", num_frames=8), root)
    assert fr2.info.indices == want


def test_png_folder_numeric_order_first_index_zero(root):
    fr = sample_frames(VideoRef(path="pngs", kind="frames", first_index=0, fps=2),
                       FrameSpec(strategy="linspace", num_frames=12), root)
    assert fr.info.indices == list(range(12))
    assert [recover_index(a) for a in fr.array] == list(range(12))
    p = probe(VideoRef(path="pngs", kind="frames", fps=2), root)
    assert (p.num_frames, p.fps, p.duration, p.codec, p.width, p.height) == (12, 2.0, 6.0, "png", 160, 96)


def test_bounds_respected_and_use_bounds_off(root):
    ref = VideoRef(path="clip.mp4", start=1.0, end=2.0)
    fr = sample_frames(ref, FrameSpec(strategy="uniform", num_frames=6), root)
    assert all(30 <= i < 60 for i in fr.info.indices)
    assert all(1.0 - 1e-6 <= t < 2.0 for t in fr.info.timestamps)
    assert [recover_index(a) for a in fr.array] == fr.info.indices
    assert fr.info.sampled_fps == pytest.approx(6.0)
    seg = sample_frames(ref, FrameSpec(strategy="segment", num_frames=6), root)
    assert seg.info.indices == ref_videochat2((1.0, 2.0), 30.0, N_SRC - 1, 0, 6)
    off = sample_frames(ref, FrameSpec(strategy="uniform", num_frames=6, use_bounds=False), root)
    assert off.info.indices == np.floor((np.arange(6) + 0.5) * N_SRC / 6).astype(int).tolist()
    with pytest.raises(MediaError, match=r"clip\.mp4: bound start 4s is at or beyond the end"):
        sample_frames(VideoRef(path="clip.mp4", start=4.0, end=6.0), FrameSpec(), root)


def test_resize_budget_and_multiple(root):
    spec = FrameSpec(num_frames=4, max_pixels=4000, size_multiple=8)
    fr = sample_frames(VideoRef(path="clip.webm"), spec, root)
    _, h, w, _ = fr.array.shape
    assert h * w <= 4000 and h % 8 == 0 and w % 8 == 0
    assert (h, w) == resize_shape(96, 160, 4000, 8) == (48, 80)
    assert (fr.info.width, fr.info.height) == (w, h)
    assert [recover_index(a) for a in fr.array] == fr.info.indices
    # frames under the budget are left alone (multiple 1), or only rounded to the multiple
    assert resize_shape(96, 160, 100_000, 1) == (96, 160)
    assert resize_shape(96, 160, None, 28) == (84, 168)
    for hh, ww, budget, m in [(720, 1280, 360 * 420, 28), (1080, 1920, 200_000, 14), (97, 3000, 5000, 4),
                              (480, 854, 50_000, 1)]:
        oh, ow = resize_shape(hh, ww, budget, m)
        assert oh * ow <= budget and oh % m == 0 and ow % m == 0
        assert abs(ow / oh - ww / hh) / (ww / hh) < 0.25


def test_determinism(root):
    spec = FrameSpec(num_frames=10, max_pixels=5000, size_multiple=2)
    a = sample_frames(VideoRef(path="clip.mp4"), spec, root)
    V.clear_index_cache()
    b = sample_frames(VideoRef(path="clip.mp4"), spec, root)
    assert np.array_equal(a.array, b.array) and a.info == b.info


def test_index_cache_keyed_by_size_and_mtime(tmp_path):
    p = videos.write_mp4(tmp_path / "v.mp4", n=30)
    first = V._get_index(p, "v.mp4")
    assert V._get_index(p, "v.mp4") is first
    videos.write_mp4(p, n=40)
    assert V._get_index(p, "v.mp4").num_frames == 40


# ------------------------------------------------------------------ damaged and bad inputs


def test_truncated_mp4_returns_correct_readable_frames(root):
    p = probe(VideoRef(path="truncated.mp4"), root)
    assert p.truncated and p.declared_frames == N_SRC and 0 < p.num_frames < N_SRC
    fr = sample_frames(VideoRef(path="truncated.mp4"), FrameSpec(strategy="linspace", num_frames=p.num_frames), root)
    assert fr.info.indices == list(range(p.num_frames))
    assert [recover_index(a) for a in fr.array] == fr.info.indices
    assert fr.info.num_source_frames == p.num_frames
    # policy: indices are planned on the readable frames, so bounds past them are an error
    late = VideoRef(path="truncated.mp4", start=p.num_frames / 30 + 0.2, end=3.0)
    with pytest.raises(MediaError, match=r"truncated\.mp4: bound start .* beyond the end"):
        sample_frames(late, FrameSpec(), root)


def test_truncated_at_many_points_never_mislabels_frames(tmp_path):
    """With B-frames, a cut can leave later frames readable but earlier ones missing; frame
    positions must still be source indices (the index keeps only the gap-free prefix)."""
    for k, frac in enumerate(np.linspace(0.3, 0.95, 14)):
        name = f"t{k}.mp4"
        videos.write_truncated_mp4(tmp_path / name, n=120, keep_fraction=float(frac), gop=30, bframes=3)
        p = probe(VideoRef(path=name), tmp_path)
        assert p.truncated and 0 < p.num_frames < 120
        fr = sample_frames(VideoRef(path=name), FrameSpec(strategy="linspace", num_frames=p.num_frames), tmp_path)
        assert [recover_index(a) for a in fr.array] == list(range(p.num_frames)), frac


@pytest.mark.parametrize("name,kind,pattern", [
    ("missing.mp4", "file", r"missing\.mp4: file not found"),
    ("moov_at_end.mp4", "file", r"moov_at_end\.mp4: cannot open as a video .*truncated, damaged or not a video"),
    ("notes.mp4", "file", r"notes\.mp4: cannot open as a video"),
    ("frames", "file", r"frames: is a directory, not a video file"),
    ("clip.mp4", "frames", r"clip\.mp4: is a file, not a frame folder"),
    ("nope", "frames", r"nope: frame folder not found"),
    ("empty_folder", "frames", r"empty_folder: frame folder contains no \.jpg/\.jpeg/\.png frames"),
])
def test_media_errors_name_file_and_reason(root, name, kind, pattern):
    ref = VideoRef(path=name, kind=kind)
    with pytest.raises(MediaError, match=pattern):
        sample_frames(ref, FrameSpec(num_frames=4), root)
    with pytest.raises(MediaError, match=pattern):
        probe(ref, root)


def test_corrupt_frame_image_is_named(root):
    ref = VideoRef(path="bad_frames", kind="frames")
    with pytest.raises(MediaError, match=r"bad_frames/00004\.jpg: cannot decode the image"):
        sample_frames(ref, FrameSpec(strategy="linspace", num_frames=6), root)


def test_no_video_stream_and_no_frames(tmp_path):
    import av

    with av.open(str(tmp_path / "audio.mka"), "w") as out:
        st = out.add_stream("pcm_s16le", rate=8000)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 800), np.int16), format="s16", layout="mono")
        frame.sample_rate = 8000
        for pkt in st.encode(frame):
            out.mux(pkt)
        for pkt in st.encode():
            out.mux(pkt)
    with pytest.raises(MediaError, match=r"audio\.mka: contains no video stream"):
        sample_frames(VideoRef(path="audio.mka"), FrameSpec(), tmp_path)
    with av.open(str(tmp_path / "empty.avi"), "w") as out:
        st = out.add_stream("mpeg4", rate=30)
        st.width, st.height, st.pix_fmt = 64, 64, "yuv420p"
        out.start_encoding()  # header only, not a single frame
    assert (tmp_path / "empty.avi").stat().st_size > 0
    with pytest.raises(MediaError, match=r"empty\.avi: contains no decodable video frames"):
        sample_frames(VideoRef(path="empty.avi"), FrameSpec(), tmp_path)
    with pytest.raises(MediaError, match=r"empty\.avi: contains no decodable video frames"):
        probe(VideoRef(path="empty.avi"), tmp_path)


@pytest.mark.parametrize("bad", ["../x.mp4", "/etc/passwd", "a/../../x.mp4"])
def test_escaping_paths_refused(root, bad):
    with pytest.raises(UnsafePathError):
        sample_frames(VideoRef(path=bad), FrameSpec(), root)
    with pytest.raises(MediaError):  # UnsafePathError is a MediaError
        probe(VideoRef(path=bad), root)


def test_probe_reports_real_counts(root):
    p = probe(VideoRef(path="clip.webm"), root)
    assert (p.num_frames, p.fps, p.width, p.height) == (N_SRC, 30.0, 160, 96)
    assert p.codec in ("vp9", "vp8") and math.isclose(p.duration, 3.0)
    assert not p.truncated
    assert probe(VideoRef(path="clip.mp4"), root).codec == "h264"


# ------------------------------------------------------------------ decord


@pytest.mark.parametrize("name", ["clip.mp4", "clip.webm", "clip.avi", "mjpeg.avi"])
def test_decord_bit_identical_to_pyav(root, name):
    pytest.importorskip("decord")
    for strategy in ("uniform", "segment"):
        spec = FrameSpec(strategy=strategy, num_frames=16)
        a = sample_frames(VideoRef(path=name), spec, root)
        b = sample_frames(VideoRef(path=name), spec.model_copy(update={"decoder": "decord"}), root)
        assert b.info.decoder == "decord"
        assert a.info.indices == b.info.indices
        assert np.array_equal(a.array, b.array)
        assert b.info.timestamps == pytest.approx(a.info.timestamps, abs=2e-3)


def test_decord_missing_is_a_dependency_error(root, monkeypatch):
    monkeypatch.setitem(sys.modules, "decord", None)  # makes `import decord` fail
    with pytest.raises(MissingDependencyError, match="decord"):
        sample_frames(VideoRef(path="clip.mp4"), FrameSpec(decoder="decord"), root)


def test_decord_errors_are_media_errors(root):
    pytest.importorskip("decord")
    spec = FrameSpec(decoder="decord")
    with pytest.raises(MediaError, match=r"notes\.mp4: decord cannot open"):
        sample_frames(VideoRef(path="notes.mp4"), spec, root)
    with pytest.raises(MediaError, match=r"missing\.mp4: file not found"):
        sample_frames(VideoRef(path="missing.mp4"), spec, root)


@pytest.mark.parametrize("ref", [VideoRef(path="clip.mp4"), VideoRef(path="clip.webm"),
                                 VideoRef(path="frames", kind="frames", start=2.5, end=9.2, fps=3, first_index=1)])
def test_read_frames_at_returns_the_frames_a_sample_recorded(root, ref):
    """Thumbnails of "the frames the model saw": exactly the recorded indices, the same pixels."""
    fr = sample_frames(ref, FrameSpec(strategy="segment", num_frames=6), root)
    again = V.read_frames_at(ref, fr.info.indices, root)
    assert np.array_equal(again, fr.array)
    small = V.read_frames_at(ref, fr.info.indices[::-1], root, max_pixels=40 * 24)
    assert small.shape[0] == 6 and small.shape[1] * small.shape[2] <= 40 * 24
    with pytest.raises(MediaError, match="frame 999"):
        V.read_frames_at(ref, [999], root)
    with pytest.raises(UnsafePathError):
        V.read_frames_at(VideoRef(path="../clip.mp4"), [0], root / "frames")


# ----------------------------------------------------------------------------- media safety (issue 12)


def test_png_renamed_mp4_is_reported_not_decoded(tmp_path):
    from PIL import Image

    from mosseval.errors import MediaKindError

    Image.new("RGB", (40, 30), (0, 200, 0)).save(tmp_path / "still.mp4", format="PNG")
    ref = VideoRef(path="still.mp4")
    with pytest.raises(MediaKindError, match="still image"):
        sample_frames(ref, FrameSpec(num_frames=4), tmp_path)
    with pytest.raises(MediaKindError, match="still image"):
        probe(ref, tmp_path)
    frames = sample_frames(ref, FrameSpec(num_frames=4, allow_images=True), tmp_path)  # the task allows images
    assert frames.array.shape == (4, 30, 40, 3) and frames.info.num_source_frames == 1
    assert probe(ref, tmp_path, allow_images=True).num_frames == 1


def test_frames_are_capped_as_they_are_decoded(tmp_path, monkeypatch):
    """With no max_pixels, a default per-frame cap holds, and no full-size frame is ever kept."""
    videos.write_mp4(tmp_path / "big.mp4", n=12, width=320, height=240)
    monkeypatch.setattr(V, "DEFAULT_MAX_PIXELS", 80 * 60)
    kept: list[tuple[int, int]] = []
    real = V._Shrinker.__call__

    def spy(self, frame):
        out = real(self, frame)
        kept.append(out.shape[:2])
        return out

    monkeypatch.setattr(V._Shrinker, "__call__", spy)
    frames = sample_frames(VideoRef(path="big.mp4"), FrameSpec(num_frames=6), tmp_path)
    assert frames.array.shape == (6, 60, 80, 3) and set(kept) == {(60, 80)}
    # the task's own budget still wins, and without a cap hit the pixels are the decoder's own
    small = sample_frames(VideoRef(path="big.mp4"), FrameSpec(num_frames=6, max_pixels=40 * 30), tmp_path)
    assert small.array.shape == (6, 30, 40, 3)


def test_unset_budget_is_identical_below_the_cap(root):
    spec = FrameSpec(num_frames=5)
    a = sample_frames(VideoRef(path="clip.mp4"), spec, root)
    assert a.array.shape[1:3] == (96, 160)
    assert [recover_index(f) for f in a.array] == a.info.indices


def test_frame_folder_file_linked_out_of_the_root_is_refused(tmp_path):
    folder = videos.write_frame_folder(tmp_path / "root" / "frames", n=6, first_index=1)
    (tmp_path / "elsewhere").mkdir()
    (folder / "00003.jpg").rename(tmp_path / "elsewhere" / "private.jpg")
    (folder / "00003.jpg").symlink_to(tmp_path / "elsewhere" / "private.jpg")
    ref = VideoRef(path="frames", kind="frames", fps=3)
    with pytest.raises(UnsafePathError, match="outside the data root"):
        sample_frames(ref, FrameSpec(num_frames=3), tmp_path / "root")
    with pytest.raises(UnsafePathError):
        probe(ref, tmp_path / "root")


def test_video_linked_out_of_the_root_is_refused(root, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "leak.mp4").symlink_to(root / "clip.mp4")
    with pytest.raises(UnsafePathError, match="outside the data root"):
        sample_frames(VideoRef(path="leak.mp4"), FrameSpec(num_frames=2), tmp_path / "data")
