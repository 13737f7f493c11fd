"""Speech recognition (ASR): the shared Whisper model, the model catalog, streaming sessions,
the live engine and the offline pipeline.

Knows nothing of the web; the rooms and archive domains call into it.
"""
