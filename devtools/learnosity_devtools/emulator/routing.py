"""Which Data API endpoint a path names: `/{version}/{endpoint}`, versions as the SDKs recognise them."""

from __future__ import annotations

import re
from typing import NamedTuple

_VERSION = re.compile(r"^(?:v\d[\d.]*(?:\.(?:lts|preview\d+))?|latest|latest-lts|developer)$", re.IGNORECASE)


class Route(NamedTuple):
    version: str
    endpoint: str  # without the version, e.g. "sessions/templates"


def parse_path(path: str) -> Route | None:
    """The route of a versioned path (the endpoint may still be unknown), None for an unversioned one."""
    segments = path.split("?", 1)[0].strip("/").split("/")
    if len(segments) < 2 or not _VERSION.match(segments[0]):
        return None
    return Route(segments[0], "/".join(segments[1:]))
