"""Use cases: each function does one thing a client of the bridge asks for."""
