"""`python -m hw.verify`: the command line of `hw.rtlsim.verify`."""
import sys

from hw.rtlsim.verify import main

if __name__ == "__main__":
    sys.exit(main())
