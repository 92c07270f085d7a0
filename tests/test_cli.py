"""The command-line interface."""
import json
import subprocess
import sys

from kgml_core.cli import main


def test_help_lists_commands(capsys):
    try:
        main(["--help"])
    except SystemExit as exit_:
        assert exit_.code == 0
    out = capsys.readouterr().out
    assert "info" in out and "experiment" in out


def test_info_json(capsys):
    assert main(["info", "--states", "IA", "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["counties"] == 99 and summary["states"] == ["IA"]


def test_bad_state_is_one_line_and_exit_2():
    proc = subprocess.run([sys.executable, "-m", "kgml_core", "info", "--states", "ZZ"],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error: unknown state 'ZZ'")
    assert "Traceback" not in proc.stderr
