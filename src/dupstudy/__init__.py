"""Find duplicate images and measure what duplicates do to standard and robust classifiers."""

__version__ = "0.1.0"
