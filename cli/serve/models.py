"""Which models a request may name: the one the server loaded (and `whisper-1`, OpenAI's
name, for it), and which others this machine has offline, for `GET /v1/models`."""

from __future__ import annotations

import logging
import os
from typing import Any

from ffscribe.cli.serve.errors import ApiError

log = logging.getLogger("ffscribe.serve")
OPENAI_DEFAULT = "whisper-1"


def served_names(served: str) -> set[str]:
    """The names a request may use for the loaded model: its own, its directory's base
    name when it is a directory, and `whisper-1`."""
    return {served, os.path.basename(os.path.normpath(served)), OPENAI_DEFAULT}


def check_model(name: str, served: str) -> None:
    """404 for a model the server does not serve, naming the one it does."""
    if not name:
        raise ApiError(400, "model is required: use 'whisper-1' or " + repr(served), param="model")
    if name in served_names(served):
        return
    offline = {card["id"] for card in offline_models(served)}
    hint = f" (installed here: restart the server with --model {name})" if name in offline else ""
    raise ApiError(
        404,
        f"the model {name!r} is not served here{hint}; this server serves {served!r} "
        f"(also as {OPENAI_DEFAULT!r})",
        param="model",
        code="model_not_found",
    )


def model_card(name: str, *, ready: bool) -> dict[str, Any]:
    """One entry of the model list, in OpenAI's shape plus whether requests may use it."""
    return {"id": name, "object": "model", "created": 0, "owned_by": "ffscribe", "ready": ready}


def offline_models(served: str) -> list[dict[str, Any]]:
    """The loaded model first, then installed packs and the hub cache (what `--model` could
    load without a network)."""
    cards = [model_card(served, ready=True), model_card(OPENAI_DEFAULT, ready=True)]
    seen = {served, OPENAI_DEFAULT}
    for name in (*_installed_packs(), *_hub_cache()):
        if name not in seen:
            seen.add(name)
            cards.append(model_card(name, ready=False))
    return cards


def _installed_packs() -> list[str]:
    from ffscribe.core.asr.models import PACKS
    from ffscribe.core.data.errors import ModelError

    names = []
    for name, pack in PACKS.items():
        try:
            if pack.locate() is not None:
                names.append(name)
        except ModelError:  # a broken pack is no model to offer
            continue
    return names


def _hub_cache() -> list[str]:
    """CTranslate2 Whisper repositories in the Hugging Face cache (faster-whisper's own
    names are listed by their short name, as `--model` takes them)."""
    try:
        from huggingface_hub import scan_cache_dir

        repos = scan_cache_dir().repos
    except Exception:  # no cache directory yet, or an unreadable one: nothing cached
        log.debug("no hub cache", exc_info=True)
        return []
    names = []
    for repo in repos:
        if repo.repo_type == "model" and "whisper" in repo.repo_id.lower():
            short = repo.repo_id.split("/", 1)[-1]
            names.append(
                short.removeprefix("faster-whisper-")
                if "Systran/" in repo.repo_id
                else repo.repo_id
            )
    return sorted(names)
