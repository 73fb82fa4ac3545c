"""`python -m hw.build`: the command line of `hw.board.build`."""
import sys

from hw.board.build import main

if __name__ == "__main__":
    sys.exit(main())
