"""The world around the bridge, simulated: Fabman and ClassMarker on loopback, and the demo that runs on them.

Used by the tests, the benchmark, the reliability run and `make demo`; the
production image does not ship it (see `Dockerfile`). It imports the bridge;
the bridge never imports it.
"""
