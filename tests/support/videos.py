"""Test helpers that write real video files with PyAV (and JPEG/PNG frame folders with Pillow).

Every frame shows its own index as a row of ``BITS`` large black/white blocks across the top
half (bit b of the index, least significant on the left), on a colour that shifts with the index;
the bottom half is a moving gradient so codecs see motion. The blocks are big and flat, so the
index survives lossy compression and resizing: ``recover_index(pixels)`` reads it back, which lets
a test check that the decoder really returned source frame i.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

BITS = 10  # indices up to 1023


def frame_pattern(i: int, width: int = 160, height: int = 96) -> np.ndarray:
    """(height, width, 3) uint8 RGB picture of frame ``i``."""
    img = np.empty((height, width, 3), np.uint8)
    img[:] = (30 + (i * 7) % 60, 60 + (i * 3) % 60, 110)  # dark, index-tinted background
    bw = width // BITS
    top = height // 2
    for b in range(BITS):
        if (i >> b) & 1:
            img[:top, b * bw:(b + 1) * bw] = 250
    x = np.arange(width)
    img[top:, :, 0] = ((x * 2 + 5 * i) % 256)[None, :]
    img[top:, :, 1] = 90
    img[top:, :, 2] = ((255 - x - 3 * i) % 256)[None, :]
    return img


def recover_index(img: np.ndarray) -> int:
    """Read back the index drawn by ``frame_pattern`` (works after compression and resizing)."""
    h, w = img.shape[:2]
    bw = w / BITS
    y0, y1 = int(h * 0.12), max(int(h * 0.38), int(h * 0.12) + 1)
    value = 0
    for b in range(BITS):
        x0 = int(b * bw + bw * 0.3)
        x1 = max(int((b + 1) * bw - bw * 0.3), x0 + 1)
        if img[y0:y1, x0:x1].mean() > 170:
            value |= 1 << b
    return value


def _write(path: Path, codec: str, *, n: int, fps: int, width: int, height: int,
           pix_fmt: str = "yuv420p", options: dict | None = None,
           container_options: dict | None = None) -> Path:
    import av

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with av.open(str(path), mode="w", options=container_options or {}) as out:
        stream = out.add_stream(codec, rate=fps, options=options or {})
        stream.width, stream.height, stream.pix_fmt = width, height, pix_fmt
        stream.codec_context.thread_count = 1
        for i in range(n):
            frame = av.VideoFrame.from_ndarray(frame_pattern(i, width, height), format="rgb24")
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def write_mp4(path: Path, n: int = 90, fps: int = 30, width: int = 160, height: int = 96,
              gop: int = 10, bframes: int = 2, faststart: bool = True) -> Path:
    """H.264 in MP4 with a keyframe every ``gop`` frames and B-frames (frames reordered)."""
    # mbtree/lookahead off: x264 output is then byte-identical from run to run (same test files).
    opts = {"g": str(gop), "bf": str(bframes), "keyint_min": str(gop), "sc_threshold": "0",
            "preset": "veryfast", "crf": "18", "x264-params": "mbtree=0:rc-lookahead=0"}
    cont = {"movflags": "+faststart"} if faststart else {}
    return _write(path, "libx264", n=n, fps=fps, width=width, height=height, options=opts,
                  container_options=cont)


def webm_codec() -> str:
    """The WebM encoder the bundled FFmpeg has: VP9 if possible, else VP8."""
    import av

    for name in ("libvpx-vp9", "libvpx"):
        try:
            av.codec.Codec(name, "w")
            return name
        except Exception:
            continue
    raise RuntimeError("PyAV's FFmpeg has no VP8/VP9 encoder")


def write_webm(path: Path, n: int = 90, fps: int = 30, width: int = 160, height: int = 96,
               gop: int = 15) -> Path:
    """VP9 (or VP8) in WebM, like MVBench's SSv2 clips."""
    opts = {"g": str(gop), "deadline": "realtime", "cpu-used": "8", "crf": "20", "b": "0"}
    return _write(path, webm_codec(), n=n, fps=fps, width=width, height=height, options=opts)


def write_avi(path: Path, n: int = 90, fps: int = 30, width: int = 160, height: int = 96,
              codec: str = "mpeg4", gop: int = 12) -> Path:
    """MPEG-4 part 2 (or MJPEG) in AVI, like MVBench's NTU RGB+D clips."""
    if codec == "mjpeg":
        return _write(path, "mjpeg", n=n, fps=fps, width=width, height=height, pix_fmt="yuvj420p",
                      options={"q:v": "3"})
    return _write(path, "mpeg4", n=n, fps=fps, width=width, height=height,
                  options={"g": str(gop), "q:v": "3"})


def write_frame_folder(folder: Path, n: int = 30, first_index: int = 1, width: int = 160,
                       height: int = 96, ext: str = "jpg", digits: int = 5) -> Path:
    """A folder of numbered frames ``00001.jpg`` … (MVBench TVQA layout)."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        img = Image.fromarray(frame_pattern(k, width, height))
        name = f"{first_index + k:0{digits}d}.{ext}"
        if ext in ("jpg", "jpeg"):
            img.save(folder / name, quality=92)
        else:
            img.save(folder / name)
    return folder


def truncate_file(path: Path, keep_fraction: float) -> Path:
    """Cut a file down to ``keep_fraction`` of its bytes (a download that stopped early)."""
    path = Path(path)
    data = path.read_bytes()
    path.write_bytes(data[: max(1, int(len(data) * keep_fraction))])
    return path


def write_truncated_mp4(path: Path, n: int = 90, keep_fraction: float = 0.6, **kw) -> Path:
    """An MP4 whose index (moov) is at the front but whose media data is cut short."""
    write_mp4(path, n=n, faststart=True, **kw)
    return truncate_file(path, keep_fraction)


def write_not_a_video(path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("this is a text file, not a video\n" * 20)
    return path
