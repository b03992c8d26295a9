"""Recording through the real SDK, on the cloud.

When the SDK is installed (a real job), its entry points become boundaries when the
step imports them; the SDK is never imported by `replay` itself, since that alone takes
seconds. Live objects are recorded as facts (`record_as`), under the same names and
keys the fakes use at replay, so the recording serves the fakes.
"""

from __future__ import annotations

from replay.boundaries.patching import patch
from replay.stubs import facts

SDK_BOUNDARIES: dict[str, dict[str, object]] = {
    "azureml.core.run:Run.get_context": {
        "name": facts.RUN_CONTEXT,
        "key": facts.no_key,
        "record_as": facts.run_facts,
    },
    "azureml.core.model:Model.get_model_path": {"name": facts.MODEL_PATH, "key": facts.model_key},
    "azureml.core.dataset:Dataset.get_by_name": {
        "name": facts.DATASET_BY_NAME,
        "key": facts.dataset_name_key,
        "record_as": facts.dataset_facts,
    },
    "azureml.core.dataset:Dataset.get_by_id": {
        "name": facts.DATASET_BY_ID,
        "key": facts.dataset_id_key,
        "record_as": facts.dataset_facts,
    },
    "azureml.data.tabular_dataset:TabularDataset.to_pandas_dataframe": {
        "name": facts.TO_PANDAS,
        "key": facts.dataset_key,
    },
    "azureml.data.file_dataset:FileDataset.download": {
        "name": facts.DATASET_FILES,
        "key": facts.dataset_key,
        "record_as": facts.files_root,
    },
}


def watch_sdk() -> None:
    """Make the real SDK's entry points boundaries when (if ever) the step imports them."""
    for spec, options in SDK_BOUNDARIES.items():
        patch(spec, strict=False, **options)  # SDK versions differ: a missing name is skipped
