"""docs/DEPLOY.md's Environment table names every variable the portal and gunicorn read."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# env.bool("X"), env("X"), os.environ.get("X"), os.environ["X"], os.getenv("X")
READS = re.compile(
    r"""(?:\benv(?:\.\w+)?|\benviron(?:\.get|\.setdefault)?|\bgetenv)\s*[(\[]\s*["']([A-Z][A-Z0-9_]*)["']"""
)
NOT_SETTINGS = {
    "PORTAL_TEST_CHILD",  # set by the tests for the workers they start
    "DJANGO_SETTINGS_MODULE",  # which settings module, not a setting
}


def variables_read() -> set[str]:
    sources = [*ROOT.glob("portal/**/*.py"), *ROOT.glob("aliases/**/*.py")]
    sources += [ROOT / "gunicorn.conf.py", ROOT / "bin" / "healthcheck.py"]
    names = set()
    for source in sources:
        names.update(READS.findall(source.read_text()))
    return names - NOT_SETTINGS


def environment_section() -> str:
    deploy = (ROOT / "docs" / "DEPLOY.md").read_text()
    return deploy.partition("\n## Environment\n")[2].partition("\n## ")[0]


def test_the_scan_finds_the_variables_it_should():
    names = variables_read()
    assert {"SECRET_KEY", "DATABASE_POOL_MAX_SIZE", "GUNICORN_WORKERS", "PORT"} <= names


def test_every_variable_read_is_in_the_environment_table():
    table = environment_section()
    missing = sorted(name for name in variables_read() if f"`{name}`" not in table)
    assert not missing, f"add {missing} to docs/DEPLOY.md, Environment"
