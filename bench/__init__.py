"""The benchmark behind `make bench`: the bridge under gunicorn against the Fabman simulator.

Speed here is decided by round trips to Fabman, so every figure is read
against them: latency beside the upstream calls a request cannot avoid,
Fabman requests counted in the simulator's own log, throughput as clients are
added, and the memory of the gunicorn workers over the run. `bench.run` drives
it; `bench.profile` shows where the bridge's own time goes.
"""
