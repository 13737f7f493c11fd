"""How long a room's recording and transcript are kept, and their removal when that time is up.

`policy` decides (pure, no clock of its own); `service` keeps each ended room's deadline in the
`retention` table, its holds and the download check; `runner` purges claimed rooms in batches
through the other domains' `purgers.Purger`s; `outcomes` are what all of it answers; `scheduler`
wakes up at each deadline (APScheduler, jobs persisted in the application's database) and sweeps
hourly.
"""
