import sys

from runyard.cli.main import main

sys.exit(main())
