"""Curating the set: whole-set gates, licenses, names, PyPI."""
