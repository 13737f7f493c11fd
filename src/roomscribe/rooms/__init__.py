"""Rooms: live audio spaces with roles, speak requests and scheduling (`service`, `membership`,
`rules`), their live state and one fan-out path to every listener (`live_rooms`), speaker audio
in (`audio`: PCM socket; `media` and `stage`: Janus and WebRTC signalling)."""
