"""The monitoring log handler, `opencensus.ext.azure.log_exporter.AzureLogHandler`.

Steps attach it to send traces to the monitoring service. The fake keeps each record as
a `trace` entry of the platform log instead: nothing goes to the network, and the
connection string (a secret) is dropped when the handler is made, never stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

from replay.stubs.platform import current


class AzureLogHandler(logging.Handler):
    def __init__(self, **options: Any) -> None:
        super().__init__(level=options.get("logging_level", logging.NOTSET))
        self._processors: list[Callable[[Any], Any]] = []

    def add_telemetry_processor(self, processor: Callable[[Any], Any]) -> None:
        """Processors see an envelope with `tags` and `data`, and can drop it by returning False."""
        self._processors.append(processor)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            envelope = SimpleNamespace(
                tags={},
                data={
                    "level": record.levelname,
                    "message": record.getMessage(),
                    "custom_dimensions": getattr(record, "custom_dimensions", None),
                },
            )
            if any(processor(envelope) is False for processor in self._processors):
                return
            current().log.add(
                "trace", record.name, {**envelope.data, **({"tags": envelope.tags} if envelope.tags else {})}
            )
        except Exception:
            self.handleError(record)
