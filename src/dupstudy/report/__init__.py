"""The study report: one self-contained HTML file plus PNG/SVG figures."""

from .build import PAPER, build_report

__all__ = ["PAPER", "build_report"]
