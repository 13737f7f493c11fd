"""What operator commands print: JSON, for scripts as much as for people."""

from __future__ import annotations

import json


def print_json(data: object) -> None:
    print(json.dumps(data, indent=2, default=str))
