"""The fake `Model`: a step reads a registered model with `Model.get_model_path(name)`.

The path is a boundary: at capture the model's file or folder is copied into the
capture (within its size budget), at replay it is rebuilt under the work folder and its
new path returned. Registering, listing or downloading models needs the service.
"""

from __future__ import annotations

from replay.boundaries import call
from replay.stubs.facts import MODEL_PATH, model_key
from replay.stubs.platform import current
from replay.stubs.service import ServiceObject


class Model(ServiceObject):
    @staticmethod
    def get_model_path(model_name: str, version: int | None = None, _workspace: object = None) -> str:
        return call(
            MODEL_PATH,
            lambda: current().source().model_path(model_name, version),
            lambda: model_key(model_name, version),
        )
