"""Schemathesis hooks for fuzzing promogate (tests/integration/test_fuzz_openapi.py, the pytest
run and the ``st run`` CLI runs of ``make fuzz``, which load this module as SCHEMATHESIS_HOOKS).

* ``vouchers_count`` (body or query) is capped: admin rightly accepts up to 10,000,000 codes per
  call, and a fuzzer asking for that many would fill the shared Redis for minutes.
* The NDJSON body of ``POST /v1/definitions/import`` is sent as text.
"""

from __future__ import annotations

from typing import Any

import schemathesis

#: codes generated per call at most
MAX_GENERATED_CODES = 25

schemathesis.serializer.alias("application/x-ndjson", "text/plain")


def cap_generation(case: Any) -> None:
    for holder in (case.body, case.query):
        if isinstance(holder, dict) and "vouchers_count" in holder:
            try:
                n = int(holder["vouchers_count"])
            except (TypeError, ValueError, OverflowError):
                continue
            if n > MAX_GENERATED_CODES:
                holder["vouchers_count"] = MAX_GENERATED_CODES


@schemathesis.hook
def before_call(context: Any, case: Any, kwargs: Any) -> None:
    cap_generation(case)
