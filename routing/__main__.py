"""``python -m routing simulate|staffing|replay ...`` (the same tools as ``switchboard``)."""

import sys

from routing.cli import main

sys.exit(main())
