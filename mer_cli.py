"""`python -m mer_cli`: the `mer` command (cli/) run as a module, as the tests and docs do."""
import sys

from cli.main import main

if __name__ == "__main__":
    sys.exit(main())
