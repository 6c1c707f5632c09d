"""The benchmark behind `make bench`: the bridge under gunicorn against the Fabman simulator, on SQLite and PostgreSQL.

Speed here is decided by round trips to Fabman, so every figure is read
against them: the webhook's answer (which waits for no Fabman call), the time
until a result's effect is in Fabman and how many results a second get there
(from the simulator's own request log and the store), the profile endpoints
beside one bare round trip, the CPU each process used, and the memory of the
gunicorn workers over the run. `bench.run` drives it (`bench.effects` the
results end to end, `bench.report` the verdicts and tables); `bench.profile`
shows where the bridge's own time goes.
"""
