"""Who speaks when: the backends behind one protocol (diarize.py; offline.py with the GE2E
encoder and clustering, pyannote_backend.py), what they share (turns.py), a speaker per word
(align.py), and known voices and speaker vectors (voices.py). campplus.py is for benchmarks."""
