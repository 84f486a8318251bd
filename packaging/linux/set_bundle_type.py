#!/usr/bin/env python3
"""Rewrites the bundle type that Tauri's bundler stamped into the app binary.

`tauri build` marks each bundle's copy of the binary (`__TAURI_BUNDLE_TYPE_VAR_DEB` for the
.deb); the updater plugin installs an update by that type. The AppImage is assembled from the
.deb's files, so its copy must say `APP`. Exactly one marker must be found, else it fails.

usage: set_bundle_type.py BINARY FROM TO     (e.g. DEB APP)
"""
import sys
from pathlib import Path

PREFIX = b"__TAURI_BUNDLE_TYPE_VAR_"
KNOWN = {b"UNK", b"DEB", b"RPM", b"APP", b"MSI", b"NSS"}


def main() -> int:
    if len(sys.argv) != 4:
        print(__doc__, file=sys.stderr)
        return 2
    path = Path(sys.argv[1])
    old, new = (PREFIX + a.encode() for a in sys.argv[2:4])
    if old[len(PREFIX):] not in KNOWN or new[len(PREFIX):] not in KNOWN:
        print(f"unknown bundle type: {sys.argv[2]} / {sys.argv[3]}", file=sys.stderr)
        return 2
    data = path.read_bytes()
    count = data.count(old)
    if count != 1:
        print(f"{path}: expected one {old.decode()} marker, found {count}", file=sys.stderr)
        return 1
    path.write_bytes(data.replace(old, new))
    return 0


if __name__ == "__main__":
    sys.exit(main())
