import sys

from pbjoin.cli import main

sys.exit(main())
