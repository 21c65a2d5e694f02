"""MER Live: spot and recognise facial micro-expressions in a live or replayed two-view video stream.

One installed namespace. The repository keeps the folders the design names beside this one, and
setuptools' package-dir maps each under it (pyproject.toml): `stream/` installs as
`mer_live.stream`, `model/` as `mer_live.model`, and so on, editable installs included.

The Python entry points (`mer_live.api`), imported when first named so that `import mer_live`
stays light:

    from mer_live import spot, Recognizer, open_source, EngineConfig
"""

from __future__ import annotations

__version__ = "0.1.0"
__all__ = ["spot", "Spotting", "Recognizer", "Recognition", "open_source", "EngineConfig"]


def __getattr__(name: str):
    if name in __all__:
        from mer_live import api

        return getattr(api, name)
    raise AttributeError(f"module 'mer_live' has no attribute {name!r}")
