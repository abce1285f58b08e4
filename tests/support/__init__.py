"""Helpers shared by several test files (the fixtures are in ``tests/conftest.py``): imported as
``support.…``, from the tests folder pytest puts on ``sys.path`` (no ``tests/__init__.py``)."""
