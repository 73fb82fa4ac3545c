"""`python -m hw.run`: the command line of `hw.link.host`."""
import sys

from hw.link.host import main

if __name__ == "__main__":
    sys.exit(main())
