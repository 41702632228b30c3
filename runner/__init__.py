"""runner: background tasks of a digital-asset-management system as config-as-code."""

__version__ = "0.1.0"
