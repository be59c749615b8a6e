"""The vortex street as a registered system (`karman.systems`)."""

from karman.systems import System
from karman.vortex.config import check_vortex
from karman.vortex.store import CONTRACTS

# Its rules: its helpers; the flow, vorticity, split and models; the forecasters of its vorticity; its export.
SYSTEM = System(name="vortex", check=check_vortex, contracts=CONTRACTS,
                rules=("rules/helpers/vortex.smk", "rules/vortex.smk", "rules/forecast.smk", "rules/export.smk"),
                report="karman.vortex.report", report_data=("vortex/section.html.j2",))
