"""Alembic migrations of every domain's tables, for SQLite and PostgreSQL alike.

`db.migrate(engine)` runs them (the server does at start; `roomscribe db upgrade` for operators);
`roomscribe db revision -m "..."` autogenerates a new one from the models. SQLite alters tables
in batch mode (copy and move), so the same revision file serves both databases.
"""
