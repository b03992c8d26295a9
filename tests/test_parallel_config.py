"""ParallelRunConfig validation: every bad value is refused before any worker starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from replay.errors import UsageError
from replay.parallel.config import (
    ParallelRunConfig,
    check_step_name,
    parse_mini_batch_size,
    resolve_config,
    wants_dataframe_header,
)

FIXTURES = Path(__file__).parent / "fixtures" / "parallel"


@pytest.fixture
def files(tmp_path: Path) -> Path:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(3):
        (folder / f"img{i}.txt").write_text("cat")
    return folder


@pytest.fixture
def table(tmp_path: Path) -> Path:
    path = tmp_path / "table.csv"
    path.write_text("id,x1,x2\n1,0.1,0.2\n")
    return path


def config(inputs: list[Path | str], **kw: object) -> ParallelRunConfig:
    base: dict[str, object] = dict(
        entry_script=str(FIXTURES / "file_score.py"),
        inputs=[str(i) for i in inputs],
        error_threshold=0,
        output_action="append_row",
    )
    base.update(kw)
    return ParallelRunConfig(**base)  # type: ignore[arg-type]


def refused(cfg: ParallelRunConfig, tmp_path: Path) -> str:
    with pytest.raises(UsageError) as info:
        resolve_config(cfg, cwd=tmp_path)
    return str(info.value)


def test_a_valid_file_config_resolves_with_platform_defaults(files: Path, tmp_path: Path) -> None:
    job = resolve_config(config([files]), cwd=tmp_path)
    assert job.kind == "files"
    assert job.mini_batch_size == 10
    assert job.config.run_invocation_timeout == 60
    assert job.config.run_max_try == 3
    assert job.config.process_count_per_node == 1
    assert job.config.logging_level == "INFO"
    assert job.config.append_row_file_name == "parallel_run_step.txt"
    assert job.name == "file-score"
    assert len(job.files) == 3


def test_a_tabular_input_defaults_to_one_megabyte(table: Path, tmp_path: Path) -> None:
    job = resolve_config(config([table]), cwd=tmp_path)
    assert job.kind == "tabular"
    assert job.mini_batch_size == 1024 * 1024


@pytest.mark.parametrize(
    "text, size",
    [("1024", 1024), ("1024KB", 1024 * 1024), ("10MB", 10 * 1024**2), ("1GB", 1024**3), ("5 mb", 5 * 1024**2)],
)
def test_sizes_are_parsed_like_the_platform(text: str, size: int) -> None:
    assert parse_mini_batch_size(text, "tabular") == size


@pytest.mark.parametrize("text", ["1.5MB", "10 MiB", "MB", "-1", "0", "ten", "10TB"])
def test_an_unparsable_size_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="mini_batch_size"):
        parse_mini_batch_size(text, "tabular")


@pytest.mark.parametrize("text", ["10MB", "0", "-3", "x"])
def test_a_file_dataset_needs_a_count_of_files(text: str) -> None:
    with pytest.raises(UsageError, match="count of files"):
        parse_mini_batch_size(text, "files")


@pytest.mark.parametrize("name", ["ab", "a" * 33, "Score", "1score", "score-", "sc_ore", "sc ore"])
def test_a_step_name_outside_the_rule_is_refused(name: str) -> None:
    with pytest.raises(UsageError, match="step name"):
        check_step_name(name)


@pytest.mark.parametrize("name", ["abc", "a" * 32, "batch-score-2", "a-b"])
def test_step_names_inside_the_rule_pass(name: str) -> None:
    assert check_step_name(name) == name


def test_a_bad_step_name_in_the_config_is_refused(files: Path, tmp_path: Path) -> None:
    assert "step name" in refused(config([files], name="Bad_Name"), tmp_path)


@pytest.mark.parametrize("value", [-2, 2**31, "many"])
def test_error_threshold_outside_its_range_is_refused(files: Path, tmp_path: Path, value: object) -> None:
    assert "error_threshold" in refused(config([files], error_threshold=value), tmp_path)


@pytest.mark.parametrize("value", [-1, 0, 2**31 - 1])
def test_error_threshold_range_edges_pass(files: Path, tmp_path: Path, value: int) -> None:
    assert resolve_config(config([files], error_threshold=value), cwd=tmp_path).config.error_threshold == value


def test_an_unknown_output_action_is_refused(files: Path, tmp_path: Path) -> None:
    assert "output_action" in refused(config([files], output_action="append_rows"), tmp_path)


def test_an_entry_script_without_run_is_refused_without_importing_it(files: Path, tmp_path: Path) -> None:
    script = tmp_path / "no_run.py"
    marker = tmp_path / "imported"
    script.write_text(f"open({str(marker)!r}, 'w').close()\ndef init():\n    pass\n")
    message = refused(config([files], entry_script=str(script)), tmp_path)
    assert "does not define run()" in message
    assert not marker.exists()


def test_an_entry_script_without_init_is_refused(files: Path, tmp_path: Path) -> None:
    script = tmp_path / "no_init.py"
    script.write_text("def run(mini_batch):\n    return mini_batch\n")
    assert "does not define init()" in refused(config([files], entry_script=str(script)), tmp_path)


def test_an_entry_script_that_does_not_parse_is_refused(files: Path, tmp_path: Path) -> None:
    script = tmp_path / "broken.py"
    script.write_text("def init(:\n")
    assert "does not parse" in refused(config([files], entry_script=str(script)), tmp_path)


def test_a_missing_entry_script_is_refused(files: Path, tmp_path: Path) -> None:
    assert "entry script not found" in refused(config([files], entry_script="nope.py"), tmp_path)


def test_the_entry_script_is_found_in_the_source_directory(files: Path, tmp_path: Path) -> None:
    job = resolve_config(
        config([files], entry_script="file_score.py", source_directory=str(FIXTURES)), cwd=tmp_path
    )
    assert job.entry_script == FIXTURES / "file_score.py"
    assert job.source_directory == FIXTURES


def test_inputs_of_mixed_type_are_refused(files: Path, table: Path, tmp_path: Path) -> None:
    assert "mixed type" in refused(config([files, table]), tmp_path)


def test_a_folder_mixing_tables_and_other_files_is_refused(files: Path, tmp_path: Path) -> None:
    (files / "extra.csv").write_text("a\n1\n")
    assert "mixes tabular files" in refused(config([files]), tmp_path)


def test_a_files_prefix_passes_csv_files_as_paths(table: Path, tmp_path: Path) -> None:
    job = resolve_config(config([f"files:{table}"]), cwd=tmp_path)
    assert job.kind == "files"


def test_a_missing_input_is_refused(tmp_path: Path) -> None:
    assert "input not found" in refused(config([tmp_path / "absent"]), tmp_path)


def test_an_empty_input_folder_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert "holds no files" in refused(config([tmp_path / "empty"]), tmp_path)


def test_a_missing_side_input_is_refused(files: Path, tmp_path: Path) -> None:
    assert "side input not found" in refused(config([files], side_inputs=["labels/"]), tmp_path)


def test_a_missing_model_path_is_refused(files: Path, tmp_path: Path) -> None:
    assert "model clf" in refused(config([files], models={"clf": "clf.pkl"}), tmp_path)


def test_a_partition_key_missing_from_the_format_is_refused(files: Path, tmp_path: Path) -> None:
    message = refused(
        config([files], partition_keys=["user"], partition_format="{genre}/{name}.txt"), tmp_path
    )
    assert "partition key 'user'" in message


def test_partition_keys_on_files_need_a_format(files: Path, tmp_path: Path) -> None:
    assert "--partition-format" in refused(config([files], partition_keys=["user"]), tmp_path)


@pytest.mark.parametrize(
    "field, value",
    [("run_max_try", 0), ("node_count", 0), ("process_count_per_node", 0),
     ("run_invocation_timeout", 0), ("logging_level", "TRACE"), ("append_row_file_name", "a/b.txt")],
)
def test_other_out_of_range_values_are_refused(files: Path, tmp_path: Path, field: str, value: object) -> None:
    assert field in refused(config([files], **{field: value}), tmp_path)


def test_the_dask_executor_needs_an_address(files: Path, tmp_path: Path) -> None:
    assert "--address" in refused(config([files], executor="dask"), tmp_path)


def test_the_dataframe_header_flag_is_read_from_the_step_arguments() -> None:
    assert wants_dataframe_header(["--model_name", "m", "--append_row_dataframe_header", "True"])
    assert not wants_dataframe_header(["--append_row_dataframe_header", "False"])
    assert not wants_dataframe_header([])


def test_an_output_inside_an_input_folder_is_refused(files: Path, tmp_path: Path) -> None:
    assert "inside the input folder" in refused(config([files], output=str(files / "out")), tmp_path)
