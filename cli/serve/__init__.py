"""`transcribe serve`: the engine over HTTP (OpenAI's audio API, PaddleX's serving API, and a
page), a front end beside the batch CLI. Needs the `serve` extra (FastAPI, uvicorn)."""
