"""Speech to text: the shared Whisper model, the model catalog and streaming sessions.

Knows nothing of the web; the rooms and archive domains call into it.
"""
