"""pitstop: raw event logs to point-in-time-correct features, offline and online, on one machine.

The public surface is small on purpose; import from here, not from submodules:

    from pitstop import Settings, PitstopError
"""

from pitstop.errors import PitstopError
from pitstop.settings import Settings

__all__ = ["PitstopError", "Settings", "__version__"]


def __getattr__(name: str) -> str:
    # pyproject.toml is the one home of the version: read from the installed package's metadata
    # when asked for (about 50 ms), not on every `import pitstop`
    if name == "__version__":
        from importlib.metadata import version

        return version("pitstop")
    raise AttributeError(f"module 'pitstop' has no attribute {name!r}")
