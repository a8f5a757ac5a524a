"""``python -m semsearch`` runs the CLI."""

from semsearch.interfaces.cli import main

main()
