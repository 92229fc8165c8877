"""Hostile and awkward input files, written once for the battery (``tests/test_battery.py``)."""

from __future__ import annotations

import io
import struct
import wave
import zlib
from pathlib import Path

import numpy as np


def _png(array: np.ndarray) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(array).save(out, "PNG")
    return out.getvalue()


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def write_images(d: Path, rng) -> None:
    """Images: broken, mislabelled, degenerate in size, mode, range and frame count."""
    from PIL import Image

    good = _png((rng.random((28, 28)) * 255).astype(np.uint8))
    (d / "good.png").write_bytes(good)
    (d / "empty.png").write_bytes(b"")
    (d / "trunc.png").write_bytes(good[:60])
    (d / "garbage.png").write_bytes(rng.bytes(5000))
    (d / "text.png").write_text("this is not an image")
    (d / "png.jpg").write_bytes(good)  # the content decides, not the extension
    (d / "noext").write_bytes(good)
    (d / "tiny.png").write_bytes(_png(np.zeros((1, 1), np.uint8)))
    (d / "line.png").write_bytes(_png(np.zeros((1, 5000), np.uint8)))
    Image.new("CMYK", (40, 40)).save(d / "cmyk.jpg")
    Image.new("RGBA", (28, 28), (0, 0, 0, 0)).save(d / "transparent.png")
    Image.new("P", (28, 28)).save(d / "palette.gif")
    Image.new("1", (28, 28)).save(d / "bilevel.png")
    Image.new("I;16", (28, 28)).save(d / "i16.png")
    Image.fromarray(np.full((28, 28), np.nan, np.float32)).save(d / "nan.tiff")
    Image.fromarray(np.full((28, 28), np.inf, np.float32)).save(d / "inf.tiff")
    frames = [Image.new("L", (28, 28), c) for c in (0, 128, 255)]
    frames[0].save(d / "anim.gif", save_all=True, append_images=frames[1:])
    (d / "drawing.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"/>')
    # A PNG header that claims 100,000 x 100,000 pixels: a decompression bomb without the pixels.
    ihdr = struct.pack(">IIBBBBB", 100_000, 100_000, 8, 0, 0, 0, 0)
    (d / "bomb.png").write_bytes(b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", ihdr) + _chunk(b"IEND", b""))


def write_audio(d: Path, rng) -> None:
    """Audio: broken containers, no samples, non-finite samples, odd rates, depths and channel counts."""
    import soundfile

    tone = (0.3 * np.sin(2 * np.pi * 440 * np.arange(16_000) / 16_000)).astype(np.float32)
    soundfile.write(d / "good.wav", tone, 16_000)
    (d / "empty.wav").write_bytes(b"")
    with wave.open(str(d / "zero_frames.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16_000)
    soundfile.write(d / "one_sample.wav", np.zeros(1, np.float32), 16_000)
    soundfile.write(d / "nan.wav", np.full(1000, np.nan, np.float32), 16_000, subtype="FLOAT")
    soundfile.write(d / "inf.wav", np.full(1000, np.inf, np.float32), 16_000, subtype="FLOAT")
    # A tone a million times full scale (a constant would be a DC offset, which the reader removes).
    soundfile.write(d / "loud.wav", tone / np.abs(tone).max() * 1e6, 16_000, subtype="FLOAT")
    soundfile.write(d / "six_channels.wav", np.zeros((16_000, 6), np.float32), 48_000)
    soundfile.write(d / "rate1.wav", np.zeros(10, np.float32), 1)
    soundfile.write(d / "rate384k.wav", np.zeros(38_400, np.float32), 384_000)
    soundfile.write(d / "u8.wav", tone, 16_000, subtype="PCM_U8")
    soundfile.write(d / "pcm24.wav", tone, 16_000, subtype="PCM_24")
    soundfile.write(d / "good.flac", tone, 16_000)
    soundfile.write(d / "good.ogg", tone, 16_000)
    (d / "trunc.wav").write_bytes((d / "good.wav").read_bytes()[:30])
    (d / "garbage.wav").write_bytes(rng.bytes(5000))
    (d / "png.wav").write_bytes((d / "good.png").read_bytes())


def write_text(d: Path, rng) -> None:
    """Text files: empty, blank, other encodings, binary, NUL bytes, emoji only."""
    (d / "good.txt").write_text("A gripping, beautifully acted film.")
    (d / "empty.txt").write_bytes(b"")
    (d / "spaces.txt").write_text("   \n\t ")
    (d / "latin1.txt").write_bytes("un film tr\xe8s r\xe9ussi".encode("latin-1"))
    (d / "utf16.txt").write_text("a good film", encoding="utf-16")
    (d / "binary.txt").write_bytes(rng.bytes(3000))
    (d / "nul.txt").write_bytes(b"good\x00film")
    (d / "emoji.txt").write_text("\U0001f600\U0001f600\U0001f44d")


def write_labelled(d: Path) -> None:
    """Labelled sets: empty, with classes the model lacks, unreadable, and malformed CSV/VADER files."""
    good = (d / "good.png").read_bytes()
    (d / "emptydir").mkdir()
    (d / "oneclass" / "a").mkdir(parents=True)
    for i in range(3):
        (d / "oneclass" / "a" / f"{i}.png").write_bytes(good)
    for label in ("Shirt", "Bag"):
        (d / "junk" / label).mkdir(parents=True)
        (d / "junk" / label / "x.png").write_bytes(b"junk")
    (d / "bad.csv").write_text("foo,bar,baz\n1,2,3\n")
    (d / "empty.csv").write_text("")
    (d / "badlabel.csv").write_text("text,label\ngood,maybe\nbad,0\n")
    (d / "vader_bad.txt").write_text("1\tnot-a-number\tgood film\n")
    (d / "header_only.csv").write_text("text,label\n")
    (d / "a_file").write_text("x")


def write_all(d: Path) -> Path:
    """Writes every hostile file into ``d``; returns ``d``."""
    rng = np.random.default_rng(0)
    d.mkdir(parents=True, exist_ok=True)
    write_images(d, rng)
    write_audio(d, rng)
    write_text(d, rng)
    write_labelled(d)
    return d
