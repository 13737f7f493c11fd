"""Reports of a room by the people who were in it, and the admins' handling of them.

Filing a report extends the room's retention (see `retention.policy`) whatever the outcome.
"""
