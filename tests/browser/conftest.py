"""The browser tests' fixtures live in ``ui_fixtures.py`` beside this file (put on ``sys.path``
here, since the suite runs with ``--import-mode=importlib``) and are re-exported so that pytest
finds them."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from ui_fixtures import browser_type_launch_args, shots_dir, stack, ui  # noqa: E402,F401
