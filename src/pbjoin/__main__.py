import sys

from pbjoin.cli.main import main

sys.exit(main())
