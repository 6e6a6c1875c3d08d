"""
The wire protocols: one module per API version behind one interface.
"""

from __future__ import annotations

from ._base import MediaProtocol, Segment
from .v1_1 import V1Protocol
from .v2 import V2Protocol


__all__ = ["MediaProtocol", "Segment", "V1Protocol", "V2Protocol"]
