"""Monthly cost estimate of each stage from the synthesized templates (``make cost``).

No CDK import: it reads ``cdk.out`` through ``tools.assembly`` (the one cloud-assembly
reader) and the typed stage configs. Prices come from ``prices_ap_northeast_2.json``
(source and date per entry), usage figures from ``assumptions.py`` (a line of the original
design or a stated assumption per figure), and every resource type is either priced by a rule
in ``rules/`` (one module per service), listed as free there with a reason, or reported as
unpriced.
See ``docs/cost.md``.
"""

from tools.cost.estimate import estimate_from_cdk_out, estimate_stage
from tools.cost.model import CATEGORIES, Free, LineItem, StageEstimate, Unpriced
from tools.cost.prices import MissingPrice, PriceTable, load_prices

__all__ = [
    "CATEGORIES",
    "Free",
    "LineItem",
    "MissingPrice",
    "PriceTable",
    "StageEstimate",
    "Unpriced",
    "estimate_from_cdk_out",
    "estimate_stage",
    "load_prices",
]
