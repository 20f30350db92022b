import sys

from runyard.cli.entry import main

sys.exit(main())
