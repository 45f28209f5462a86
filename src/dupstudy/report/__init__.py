"""The study report: one self-contained HTML file plus PNG/SVG figures."""

from .build import build_report
from .paper import PAPER

__all__ = ["PAPER", "build_report"]
