"""JSON parsed as a strict consumer would: NaN and Infinity literals refused."""

import json


def strict(text: str):
    """Parse `text`, failing the test on a NaN or Infinity literal."""

    def refuse(name):
        raise AssertionError(f"non-strict JSON literal {name}")

    return json.loads(text, parse_constant=refuse)
