"""Production settings for bench/load.py, with collectstatic output in a per-run temp folder.

portal.settings fixes STATIC_ROOT inside the checkout, and with DEBUG off the manifest
storage needs collectstatic output or every page answers 500. Everything else is unchanged.
"""

import os

from portal.settings import *  # noqa: F403

STATIC_ROOT = os.environ["BENCH_STATIC_ROOT"]
