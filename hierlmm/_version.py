"""The package version, in one place (``hierlmm.__version__``, ``hierlmm --version``)."""

__version__ = "0.1.0"
