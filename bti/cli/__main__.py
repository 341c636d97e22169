"""``python -m bti.cli``: the same as the ``bti`` console script."""

from bti.cli import main

main()
