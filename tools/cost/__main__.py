"""``python -m tools.cost``: the monthly cost report (see ``tools.cost.cli``)."""

from tools.cost.cli import main

raise SystemExit(main())
