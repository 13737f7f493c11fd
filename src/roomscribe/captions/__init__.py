"""Captions: the live caption engine (speaker streams in, caption events out), the event
contract, cue building, caption file formats and the validator. Built on `asr`, never the
other way round."""
