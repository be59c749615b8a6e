"""Snakemake logger plugin `karman` (`--logger karman`, set in karman's profiles).

It prints nothing itself. It puts `karman.configfile.ConfigFileErrors` on Snakemake's logger,
so that a `--configfile` Snakemake cannot read is reported on one line that names the file,
instead of with a traceback; and when the SLURM executor logs its run ID, it records this
process as that run's controller (`karman.cluster.record_slurm_run`), so that another run in
the same folder cancels the run's jobs only once it is gone. Snakemake's output is unchanged.
"""

from snakemake.logging import logger
from snakemake_interface_logger_plugins.base import LogHandlerBase

from karman.cluster import record_slurm_run
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
        """Nothing to write (Snakemake's own handlers write every record): record a SLURM run's controller."""
        message = record.msg if isinstance(record.msg, str) else ""
        if message.startswith("SLURM run ID: "):
            try:
                record_slurm_run(message)
            except OSError:
                self.handleError(record)
