"""Audio media, each blocking tool behind one module: ffmpeg (decode, probe, mix), Janus (the
WebRTC media server the service runs and drives) and the RTP a speaker's audio comes back as."""
