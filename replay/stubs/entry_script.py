"""The batch entry script's helper, `azureml_user.parallel_run.EntryScript`.

Entry scripts use it for a logger and for the folders the batch step gives them; the
fake hands out the folders of the installed platform and a logger writing to its log
folder, so entry-script logs land beside the replay's other logs.
"""

from __future__ import annotations

import logging

from replay.stubs.platform import current


class EntryScript:
    """`EntryScript().logger`, `.working_dir`, `.output_dir`, `.log_dir`."""

    def __init__(self) -> None:
        platform = current()
        self.working_dir = str(platform.working_dir)
        self.output_dir = str(platform.output_dir)
        self.log_dir = str(platform.log_dir)
        self.logger: logging.Logger = platform.entry_script_logger()
