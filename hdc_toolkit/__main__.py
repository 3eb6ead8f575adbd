import sys

from hdc_toolkit.cli import main

sys.exit(main())
