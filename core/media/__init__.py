"""ffmpeg: finding it, probing and decoding any container to 16 kHz mono float32 (ffmpeg.py),
live streams from files, pipes, URLs and devices (stream.py), and Whisper's log-mel features a
block at a time (features.py)."""
