"""MER Live: spot and recognise facial micro-expressions in a live or replayed two-view video stream.

One installed namespace. The repository keeps the folders the design names beside this one, and
setuptools' package-dir maps each under it (pyproject.toml): `stream/` installs as
`mer_live.stream`, `model/` as `mer_live.model`, and so on, editable installs included.
"""

__version__ = "0.1.0"
