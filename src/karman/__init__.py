"""karman: from simulated flow past a cylinder to models that predict the Reynolds number."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("karman")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0+unknown"
