"""Speech recognition (ASR): the shared Whisper model, the model catalog, voice activity,
streaming sessions (LocalAgreement-2) and the offline pipeline.

Knows nothing of captions or the web; `captions.live_engine` and the archive call into it.
"""
