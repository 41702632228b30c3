"""The modules by name: a run looks its module up here and makes a fresh instance."""

from __future__ import annotations

from collections.abc import Callable

from runner.modules.base import Module
from runner.modules.delete_objects import DeleteObjects
from runner.modules.metadata import Metadata
from runner.modules.search import Search
from runner.modules.set_unset_tags import SetUnsetTags

MODULES: dict[str, Callable[[], Module]] = {
    "delete_objects": DeleteObjects,
    "metadata": Metadata,
    "search": Search,
    "set_unset_tags": SetUnsetTags,
}
