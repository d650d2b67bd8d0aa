"""Command-line entry points (declared in pyproject's [project.scripts])."""
