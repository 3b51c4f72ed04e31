"""ffscribe.cli: the `transcribe` command, a thin adapter over ffscribe.core."""
