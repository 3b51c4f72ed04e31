"""The batch contract: every input gets an outcome, one failure never stops the rest
(contract.py), inputs resolved from arguments (inputs.py), fetched (fetch.py, download.py),
written atomically (outputs.py) under per-input locks (locks.py), the report (report.py), and
the same batch over a Ray cluster (ray_executor.py)."""
