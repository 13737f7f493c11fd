"""Captions: cue building, caption file formats, the validator and live caption events."""
