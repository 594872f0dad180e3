"""How long to wait when Spotify says "later": Retry-After on 429, backoff on 5xx and
network errors, both bounded so a run ends cleanly instead of hanging.

`sleep` is injectable so tests check the waits without waiting.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class RetryPolicy:
    max_retries: int = 4         # 5xx / network failures retried per request
    backoff: float = 1.0         # first backoff wait in seconds, doubled each retry
    max_rate_waits: int = 5      # 429 answers honoured per request
    max_wait: float = 120.0      # the longest Retry-After worth waiting for
    default_wait: float = 5.0    # a 429 without Retry-After
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def backoff_wait(self, failures: int) -> float:
        """The wait before retry number `failures` (1-based): backoff, 2x, 4x, ..."""
        return self.backoff * 2 ** (failures - 1)

    def retry_after(self, header: str | None) -> float:
        """Seconds asked for by a Retry-After header (seconds form; HTTP dates are rare here)."""
        if header is None or str(header).strip() == "":
            return self.default_wait
        try:
            return max(0.0, float(header))
        except ValueError:
            from email.utils import parsedate_to_datetime
            try:
                return max(0.0, parsedate_to_datetime(header).timestamp() - time.time())
            except (TypeError, ValueError):
                return self.default_wait
