#!/usr/bin/python3
"""Draws Cordon's shield glyph with Pillow: the tray icons (running, pending, paused) here, and the
1024x1024 app-icon source through packaging/icons/make_source.py (which imports `shield`), from
which `tauri icon` derives every platform size.

Run by `scripts/desktop icons`; the PNGs are committed, so builds do not need Pillow.
"""
import sys
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1] / "icons"
NAVY = (29, 36, 51, 255)
TEAL = (38, 166, 154, 255)
AMBER = (245, 158, 11, 255)
WHITE = (255, 255, 255, 255)


def shield(size: int, badge: bool) -> Image.Image:
    s = 4 * size  # draw big, downsample for smooth edges
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    d = ImageDraw.Draw(img)
    m = s * 0.08
    top, bottom, left, right = m, s - m, m * 1.4, s - m * 1.4
    mid = s / 2
    outline = [(mid, top), (right, top + s * 0.12), (right, s * 0.5),
               (mid, bottom), (left, s * 0.5), (left, top + s * 0.12)]
    d.polygon(outline, fill=NAVY)
    inset = s * 0.07
    inner = [(mid, top + inset), (right - inset, top + s * 0.12 + inset * 0.6), (right - inset, s * 0.5),
             (mid, bottom - inset * 1.5), (left + inset, s * 0.5), (left + inset, top + s * 0.12 + inset * 0.6)]
    d.polygon(inner, fill=TEAL)
    # a check mark: governed
    w = max(2, int(s * 0.07))
    d.line([(s * 0.34, s * 0.48), (s * 0.46, s * 0.6), (s * 0.67, s * 0.36)], fill=WHITE, width=w, joint="curve")
    if badge:
        r = s * 0.2
        d.ellipse([s - 2 * r - m * 0.2, m * 0.2, s - m * 0.2, 2 * r + m * 0.2], fill=AMBER, outline=WHITE, width=max(2, int(s * 0.03)))
    return img.resize((size, size), Image.LANCZOS)


def paused(img: Image.Image) -> Image.Image:
    """The same glyph in grey: nothing passes while every agent is paused."""
    grey = img.convert("L")
    return Image.merge("RGBA", (grey, grey, grey, img.getchannel("A")))


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    shield(64, False).save(OUT / "tray.png")
    shield(64, True).save(OUT / "tray-pending.png")
    paused(shield(64, False)).save(OUT / "tray-paused.png")
    print(f"tray icons written to {OUT} (app icons: scripts/package icons)")
