"""Snakemake logger plugin `karman` (`--logger karman`, set in karman's profiles).

It writes nothing itself: it puts `karman.configfile.ConfigFileErrors` on Snakemake's logger,
so that a `--configfile` Snakemake cannot read is reported on one line that names the file,
instead of with a traceback. Snakemake's own output is otherwise unchanged.
"""

from snakemake.logging import logger
from snakemake_interface_logger_plugins.base import LogHandlerBase

from karman.configfile import name_unreadable_config_files


class LogHandler(LogHandlerBase):
    writes_to_stream = False
    writes_to_file = False
    has_filter = False
    has_formatter = False
    needs_rulegraph = False

    def __post_init__(self) -> None:
        name_unreadable_config_files(logger)

    def emit(self, record) -> None:
        """Nothing to write: Snakemake's own handlers write every record."""
