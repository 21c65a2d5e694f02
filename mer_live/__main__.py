"""`python -m mer_live`: the `mer` command (cli/), as the tests and docs run it."""

import sys

from mer_live.cli.main import main

if __name__ == "__main__":
    sys.exit(main())
