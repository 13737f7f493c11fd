"""How long a room's recording and transcript are kept, and their removal when that time is up.

`policy` decides (pure, no clock of its own); `service` keeps each ended room's deadline in the
`retention` table and purges through the other domains' `Purger`s; `scheduler` wakes up at each
deadline (APScheduler, jobs persisted in the application's database) and sweeps hourly.
"""
