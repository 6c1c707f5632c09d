"""The reliability run: the bridge as deployed, driven through a hostile world.

`python -m reliability` (or `make reliability`) starts the bridge under
gunicorn with several workers, the Fabman simulator and a real SMTP server,
and plays scenarios in which Fabman fails, hangs or goes down, SMTP refuses
mail, workers and whole instances are killed, and ClassMarker's webhooks are
lost or refused (reconciliation with its results API must bring those in). Every figure it prints is counted from what the
world shows afterwards (training records and member metadata in the
simulator, mail in the SMTP server, rows in the bridge's store), never from
what the bridge answered. It exits non-zero when anything is lost or doubled,
and writes docs/reliability.md with the guarantees, the scenarios and the figures.
"""
