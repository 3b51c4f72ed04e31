"""Background music: YAMNet's music regions and the speech under them (detect.py)."""
