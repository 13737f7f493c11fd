"""Replay: a recorded room played back, with its captions, for whoever its visibility admits."""
