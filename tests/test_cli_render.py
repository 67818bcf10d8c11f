"""What `train` prints before anything is submitted: the config listing and the dataset report,
styled text that lines up, keeps every value whole and honours NO_COLOR."""

from __future__ import annotations

import click
import pytest

from bot.cli import _common, render
from bot.core.dataset.report import DatasetReport
from bot.core.dataset.rules import Finding

LONG_URL = "https://bucket.example/d.zip?X-Amz-Signature=" + "ab" * 300


def test_config_listing_lines_up_and_puts_the_value_last() -> None:
    data = {
        "dataset_url": LONG_URL,
        "destination": "alice/lora",
        "training": {"steps": 1200, "optimizer": "prodigy", "lora_rank": None},
    }
    origins = {"dataset_url": "cli", "destination": "user", "training.optimizer": "preset"}
    lines = click.unstyle(render.config_listing(data, origins)).splitlines()
    assert lines[0] == "Training configuration"
    header = lines[1]
    assert header.split() == ["setting", "from", "value"]
    at_from, at_value = header.index("from"), header.index("value")
    rows = {line.split()[0]: line for line in lines[2:]}
    assert set(rows) == {
        "dataset_url", "destination", "training.steps", "training.optimizer", "training.lora_rank",
    }  # fmt: skip
    for line in lines[2:]:
        assert line[at_from - 1] == " " and line[at_from] != " "  # every origin starts in line
    assert rows["dataset_url"][at_value:] == LONG_URL  # whole, at the end of its line
    assert rows["destination"][at_from:].split() == ["defaults.yaml", "alice/lora"]
    assert rows["training.steps"][at_from:].split() == ["default", "1200"]
    assert rows["training.lora_rank"].split() == ["training.lora_rank", "default"]  # None: empty


def test_styles_show_on_a_terminal_unless_no_color(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    styled = render.config_listing({"destination": "a/b"}, {})
    assert "\x1b[" in styled and click.unstyle(styled) != styled
    monkeypatch.setenv("NO_COLOR", "1")
    assert "\x1b[" not in render.config_listing({"destination": "a/b"}, {})
    assert _common.paint("plain", fg="red", bold=True) == "plain"


def test_dataset_report_lists_findings_with_a_few_paths(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    report = DatasetReport(url="https://x/d.zip")
    report.counts = {"usable_images": 3, "images": 4, "captions": 0}
    report.errors = [Finding("e", "No captions at all.", [f"img{i}.png" for i in range(7)])]
    report.warnings = [Finding("w", "One HEIC file is skipped.", ["a.heic"])]
    report.notes = [Finding("n", "About 1000 steps is a good start.")]
    report.skipped_checks = ["captions"]
    text = render.dataset_report(report)
    assert "\x1b[31m" in text  # "problems found" and the error label are red
    lines = click.unstyle(text).splitlines()
    assert lines == [
        "Dataset check: problems found  usable images: 3, images: 4",
        "  error: No captions at all.  "
        "[img0.png, img1.png, img2.png, img3.png, img4.png (+2 more)]",
        "  warning: One HEIC file is skipped.  [a.heic]",
        "  note: About 1000 steps is a good start.",
        "  skipped checks: captions",
    ]


def test_echo_leaves_styles_out_of_piped_output(capsys: pytest.CaptureFixture[str]) -> None:
    _common.echo(_common.paint("Dataset check: ", bold=True) + _common.paint("OK", fg="green"))
    assert capsys.readouterr().out == "Dataset check: OK\n"
