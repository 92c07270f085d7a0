"""Untrusted files and hardening: no unsafe deserialisation, no eval, no secrets, safe server settings."""
from __future__ import annotations

import re
import subprocess
import tomllib

from .conftest import REPO

UNSAFE = {
    "pickle.load": re.compile(r"\b(c?pickle|joblib|dill|cloudpickle)\.loads?\("),
    "eval(": re.compile(r"(?<![\w.])eval\("),
    "exec(": re.compile(r"(?<![\w.])exec\("),
    "yaml.load without SafeLoader": re.compile(r"\byaml\.load\((?![^)]*SafeLoader)"),
    "shell=True": re.compile(r"shell\s*=\s*True"),
    "np.load with allow_pickle=True": re.compile(r"allow_pickle\s*=\s*True"),
}
SECRETS = {
    "AWS key": re.compile(r"AKIA[0-9A-Z]{16}"),
    "private key": re.compile(r"-----BEGIN (RSA |EC |OPENSSH |DSA )?PRIVATE KEY-----"),
    "GitHub token": re.compile(r"gh[pousr]_[A-Za-z0-9]{36}"),
    "API key": re.compile(r"\b(sk|pk)-[A-Za-z0-9]{24,}"),
    "Slack token": re.compile(r"xox[abpr]-[A-Za-z0-9-]{10,}"),
    "assigned secret": re.compile(
        r"(?i)\b(password|passwd|secret|api_key|apikey|access_token|auth_token)\s*[:=]\s*['\"][^'\"\s]{8,}['\"]"),
}
THIS = "tests/reliability/test_hygiene.py"


def _tracked(*patterns: str) -> dict[str, str]:
    names = subprocess.run(["git", "ls-files", *patterns], cwd=REPO, capture_output=True, text=True,
                           check=True).stdout.split()
    out = {}
    for name in names:
        path = REPO / name
        if name == THIS or not path.is_file() or path.stat().st_size > 2_000_000:
            continue
        try:
            out[name] = path.read_text()
        except UnicodeDecodeError:
            continue
    return out


def _hits(files: dict[str, str], patterns: dict[str, re.Pattern]) -> list[str]:
    return [f"{name}:{text[:m.start()].count(chr(10)) + 1}: {label}"
            for name, text in files.items() for label, rx in patterns.items() for m in rx.finditer(text)]


def test_no_unsafe_deserialisation_or_dynamic_code():
    files = _tracked("*.py")
    assert len(files) > 50
    assert _hits(files, UNSAFE) == []


def test_every_torch_load_is_weights_only():
    calls = []
    for name, text in _tracked("*.py").items():
        for m in re.finditer(r"torch\.load\(", text):
            depth, end = 0, m.end() - 1
            for end in range(m.end() - 1, len(text)):  # the whole call, nested parentheses included
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            calls.append((name, text[m.start():end + 1]))
    assert calls, "the run store loads weights with torch.load"
    assert [c for c in calls if not re.search(r"weights_only\s*=\s*True", c[1])] == []


def test_no_secrets_in_the_repository():
    assert _hits(_tracked(), SECRETS) == []
    ignored = (REPO / ".gitignore").read_text() if (REPO / ".gitignore").exists() else ""
    assert ".streamlit/secrets.toml" in ignored or "secrets.toml" in ignored
    assert subprocess.run(["git", "ls-files", "*secrets.toml", "*.pem", "*.key", ".env"], cwd=REPO,
                          capture_output=True, text=True).stdout == ""


def test_server_hardening_settings():
    config = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
    assert config["server"]["enableXsrfProtection"] is True
    assert 1 <= config["server"]["maxUploadSize"] <= 200  # MB, matches data_session.MAX_UPLOAD_BYTES
    assert config["client"]["showErrorDetails"] in ("none", False)
    assert config["browser"]["gatherUsageStats"] is False
    assert config["server"].get("enableCORS", True) is True
    from components import data_session
    assert data_session.MAX_UPLOAD_BYTES == config["server"]["maxUploadSize"] * 2**20
