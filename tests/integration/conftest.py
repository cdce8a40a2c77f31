"""Fixtures of the integration tests. The gateway end-to-end fixtures live in
``gateway_fixtures.py`` beside this file (put on ``sys.path`` here, since the suite runs with
``--import-mode=importlib``) and are re-exported so that pytest finds them."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from gateway_fixtures import gw, server  # noqa: E402,F401
