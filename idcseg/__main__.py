"""``python -m idcseg`` runs the command line."""

from .cli import main

main()
