"""The driven Duffing oscillator as a registered system (`karman.systems`)."""

from karman.duffing.config import check_duffing
from karman.duffing.samples import CONTRACTS
from karman.systems import System


def check(config: dict) -> None:
    """The `duffing` section's keys against each other."""
    check_duffing(config["duffing"])


SYSTEM = System(name="duffing", check=check, contracts=CONTRACTS, rules=("rules/helpers/duffing.smk", "rules/duffing.smk"),
                report="karman.duffing.report", report_data=("duffing/section.html.j2",))
