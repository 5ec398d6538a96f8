"""The documentation says what the code does: both READMEs name the same commands (and every command the
CLI offers), the production guide's GRANT is the one `doctor` checks, the unit templates render from one
variable, and the demo's sandbox is the demo environment's."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml
from qtickets_pipeline.cli import main
from qtickets_pipeline.demo import DEMO
from qtickets_pipeline.warehouse import grant_sql

REPO = Path(__file__).resolve().parents[2]
COMMAND = re.compile(r"\b(qtickets-pipeline|make) ([a-z][a-z-]*)")


def commands(path: Path) -> set[str]:
    return {" ".join(m.groups()) for m in COMMAND.finditer(path.read_text(encoding="utf-8"))}


@pytest.mark.unit
def test_readme_and_readme_ru_name_the_same_commands():
    english, russian = commands(REPO / "README.md"), commands(REPO / "README.ru.md")
    assert english == russian
    offered = {f"qtickets-pipeline {name}" for name, command in main.commands.items() if not command.hidden}
    assert offered <= english, f"not in README.md: {sorted(offered - english)}"
    assert {"make demo", "make test", "make check"} <= english


@pytest.mark.unit
def test_production_guide_grants_what_doctor_checks():
    guide = (REPO / "docs" / "production.md").read_text(encoding="utf-8")
    assert grant_sql("zakaz", "qtickets") + ";" in guide


@pytest.mark.unit
def test_demo_sandbox_is_the_demo_environment():
    project = yaml.safe_load((REPO / "meltano.yml").read_text(encoding="utf-8"))
    demo = next(e for e in project["environments"] if e["name"] == "demo")
    tap = next(p for p in demo["config"]["plugins"]["extractors"] if p["name"] == "tap-qtickets")
    assert tap["config"] == {"api_token": DEMO.token, "base_url": DEMO.base_url}


@pytest.mark.integration
def test_units_render_with_every_path_from_one_variable(tmp_path):
    env = {"QTICKETS_HOME": "/srv/qtickets", "QTICKETS_USER": "svc", "PATH": "/usr/bin:/bin"}
    subprocess.run([str(REPO / "orchestrate" / "systemd" / "install.sh"), "render", str(tmp_path)], env=env,
                   check=True, timeout=30)
    service = (tmp_path / "qtickets-pipeline.service").read_text()
    assert "ExecStart=/srv/qtickets/.venv/bin/qtickets-pipeline run" in service and "User=svc" in service
    assert "WorkingDirectory=/srv/qtickets" in service
    assert not re.search(r"@\w+@", service + (tmp_path / "qtickets-pipeline.timer").read_text())
    webhooks = (tmp_path / "qtickets-webhooks.service").read_text()
    assert "ExecStart=/srv/qtickets/.venv/bin/qtickets-pipeline webhooks serve --host 127.0.0.1" in webhooks
    assert "User=svc" in webhooks and not re.search(r"@\w+@", webhooks)
    cron = subprocess.run([str(REPO / "orchestrate" / "systemd" / "install.sh"), "render-cron"], env=env,
                          capture_output=True, text=True, check=True, timeout=30).stdout
    assert cron.startswith("*/30 * * * * cd /srv/qtickets && .venv/bin/qtickets-pipeline run")
    install = str(REPO / "orchestrate" / "systemd" / "install.sh")
    rotate = subprocess.run([install, "render-logrotate"], env=env, capture_output=True, text=True,
                            check=True, timeout=30).stdout
    assert rotate.startswith("# The cron log") and "/srv/qtickets/data/qtickets-pipeline.cron.log {" in rotate


@pytest.mark.unit
@pytest.mark.parametrize(("prepare", "named"), [
    ((), "holds no meltano.yml"),
    (("meltano.yml",), "has no qtickets-pipeline: run `make install`"),
    (("meltano.yml", ".venv/bin/qtickets-pipeline"), "QTICKETS_USER=nobody-here does not exist"),
])
def test_install_checks_name_what_is_missing_in_one_line(tmp_path, prepare, named):
    for name in prepare:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("")
        (tmp_path / name).chmod(0o755)
    env = {"QTICKETS_HOME": str(tmp_path), "QTICKETS_USER": "nobody-here", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([str(REPO / "orchestrate" / "systemd" / "install.sh"), "systemd"], env=env,
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 1 and named in done.stderr and len(done.stderr.splitlines()) == 1, done.stderr
