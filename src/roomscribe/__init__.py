"""Roomscribe: live captions and a searchable archive for audio rooms."""

__version__ = "0.1.0"
