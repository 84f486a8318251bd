#!/usr/bin/python3
"""Draws the 1024x1024 source of Cordon's app icon (the shield of src-tauri/tools/make_icons.py).

`tauri icon` derives every platform size from it (.ico, .icns, Windows Square*Logo, PNGs):
`scripts/package icons`. Both the source and the derived icons are committed, so neither a build
nor a fresh clone needs Pillow.
"""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src-tauri" / "tools"))
from make_icons import shield  # noqa: E402  (one drawing of the glyph for every icon)

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent / "cordon.png"
SIZE = 1024

shield(SIZE, False).save(OUT)
print(f"icon source written to {OUT}")
