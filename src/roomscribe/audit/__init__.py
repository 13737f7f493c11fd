"""The audit log: who did what to which room, and when. Append-only, written in the same
transaction as the change it records, so the log and the data never disagree."""
