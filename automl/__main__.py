"""``python -m automl``."""

from automl.cli import main

main()
