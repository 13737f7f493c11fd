"""Accounts: registration, sign-in (bearer tokens and a page session cookie), follows, admins."""
