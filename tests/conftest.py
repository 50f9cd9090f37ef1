"""Shared pytest configuration.

Hypothesis profiles (see tests/test_differential.py):

* ``ci`` (the default): 1,000 examples per property test -- the two
  differential properties together run 2,000 generated models; derandomized,
  so every run explores the same models and failures reproduce exactly.
* ``long``: 20,000 examples per property test, random seed, for hunting:
  ``pytest tests/test_differential.py --hypothesis-profile=long``.

The profile is loaded here (at import, before hypothesis' own pytest plugin
handles ``--hypothesis-profile``, which therefore still wins).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

# Tests that monkeypatch convlint must see it run, not a cached result: the findings cache is
# off unless a test passes --cache-dir (tests/test_cache.py does).
os.environ.setdefault("CONVLINT_NO_CACHE", "1")

_QUIET = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]

settings.register_profile(
    "ci",
    max_examples=1_000,
    deadline=None,
    derandomize=True,
    print_blob=True,
    suppress_health_check=_QUIET,
)
settings.register_profile(
    "long",
    max_examples=20_000,
    deadline=None,
    print_blob=True,
    suppress_health_check=_QUIET,
)
settings.load_profile("ci")
