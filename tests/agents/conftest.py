"""The suite's modules import the harness (agents_e2e) and the fake model (fakemodel) from here."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
