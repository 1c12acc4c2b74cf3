"""Keys and settings the server suite's session server is started with (see conftest.py)."""

from __future__ import annotations

TEST_API_KEY = "sk-test-0123456789abcdef"
#: Extra keys the session server accepts: a free plan (403 on gated options), no credits (402).
FREE_API_KEY = "sk-test-free-0000000000"
BROKE_API_KEY = "sk-test-broke-000000000"
JOB_SECONDS = 2.0
DEFAULT_CONFIG = {
    "job_seconds": JOB_SECONDS,
    "terminal_shape": "flat",
    "progress_style": "mixed",
    "length_style": "string",
    "journal_size": 10_000,
}
