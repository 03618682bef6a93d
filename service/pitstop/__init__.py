"""pitstop: raw event logs to point-in-time-correct features, offline and online, on one machine.

The public surface is small on purpose; import from here, not from submodules:

    from pitstop import Settings, PitstopError
"""

from importlib.metadata import version

from pitstop.errors import PitstopError
from pitstop.settings import Settings

__all__ = ["PitstopError", "Settings", "__version__"]
# pyproject.toml is the one home of the version; this reads the installed package's metadata
__version__ = version("pitstop")
