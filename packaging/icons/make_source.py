#!/usr/bin/python3
"""Draws the 1024x1024 source of Cordon's app icon (the shield of src-tauri/tools/make_icons.py).

`tauri icon` derives every platform size from it (.ico, .icns, Windows Square*Logo, PNGs):
`scripts/package icons`. Both the source and the derived icons are committed, so neither a build
nor a fresh clone needs Pillow.
"""
import sys
from pathlib import Path

from PIL import Image, ImageDraw

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "cordon.png"
NAVY = (29, 36, 51, 255)
TEAL = (38, 166, 154, 255)
WHITE = (255, 255, 255, 255)
SIZE = 1024


def shield(size: int) -> Image.Image:
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
    w = int(s * 0.07)
    d.line([(s * 0.34, s * 0.48), (s * 0.46, s * 0.6), (s * 0.67, s * 0.36)], fill=WHITE, width=w, joint="curve")
    return img.resize((size, size), Image.LANCZOS)


shield(SIZE).save(OUT)
print(f"icon source written to {OUT}")
