"""The searchable archive: the transcript index (its one writer) and search over it."""
