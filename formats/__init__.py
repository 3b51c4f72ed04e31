"""ffscribe.formats: one writer per output format, registered by name."""
