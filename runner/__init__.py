"""runner: background tasks of a digital-asset-management system as config-as-code."""

__version__ = "0.1.0"

import os as _os

# pydantic looks up plugins through every installed package's entry points on first use (a
# quarter of a second per command); runner uses none, and users may still opt back in.
_os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "1")
