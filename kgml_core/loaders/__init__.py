"""Loaders (temporary init while building)."""
from kgml_core.loaders._common import LoaderError
