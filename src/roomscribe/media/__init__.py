"""Audio media: decoding, probing and mixing through ffmpeg."""
