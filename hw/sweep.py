"""`python -m hw.sweep`: the command line of `experiments.sweep`."""
import sys

from experiments.sweep import main

if __name__ == "__main__":
    sys.exit(main())
