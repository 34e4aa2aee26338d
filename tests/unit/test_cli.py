"""The `tradebot` command as a user meets it: help, and one clear line for a bad config."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def tradebot(*arguments: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "bot.cli", *arguments], cwd=ROOT, capture_output=True, text=True, timeout=60)


def test_help_lists_every_command():
    result = tradebot("--help")
    assert result.returncode == 0
    for command in ("run", "exchange-sim", "status", "config", "archive", "backfill"):
        assert command in result.stdout


def test_config_check_passes_on_the_shipped_defaults_and_names_the_key_of_a_bad_file(tmp_path):
    assert tradebot("config", "check", "config/tradebot.yaml").returncode == 0
    bad = tmp_path / "bad.yaml"
    bad.write_text((ROOT / "config/tradebot.yaml").read_text().replace("  symbols:", "  symbolz:"))
    result = tradebot("config", "check", str(bad))
    assert result.returncode == 2
    assert result.stderr.splitlines()[0] == f"{bad}: ingest.symbolz: unknown key (did you mean 'symbols'?)"


def test_run_with_a_bad_config_exits_with_one_line_and_starts_nothing(tmp_path):
    result = tradebot("run", "--config", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "missing.yaml" in result.stderr
