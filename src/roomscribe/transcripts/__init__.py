"""Transcripts of recorded rooms: live finals, the final pass, corrections and exports."""
