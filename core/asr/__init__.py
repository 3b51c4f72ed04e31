"""Whisper through faster-whisper: the Recognizer and its decode paths, sequential, batched
and split into parts (recognizer.py), models and packs (models.py), where to cut (split.py),
speech Whisper skipped (recover.py), the voice detector (silero.py), every language in the
file (languages.py), live sessions (live.py), and every patch of faster-whisper in one place
(workarounds.py)."""
