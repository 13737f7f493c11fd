"""Rooms: live audio spaces with roles, speak requests, scheduling and live caption fan-out."""
