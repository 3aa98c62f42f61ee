"""``python -m server`` runs the ``backdrop`` command line."""

from .cli import main

raise SystemExit(main())
