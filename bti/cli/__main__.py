"""``python -m bti.cli``: the same as the ``bti`` console script."""

from bti.cli import main

if __name__ == "__main__":  # not when a tool imports every module of the package
    main()
