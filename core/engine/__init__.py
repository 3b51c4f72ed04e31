"""Running inputs: the pool of model workers every front end submits to (pool.py), what a stage
is handed for one run (context.py), the stages of one input in order (pipeline.py), finished
parts kept for a resume (checkpoint.py), what a stop removes (cleanup.py), and the timeline
switch (timeline.py)."""
