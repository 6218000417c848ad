"""Optional parts of perfgate and the packages they need: ``pip install 'perfgate[EXTRA]'``."""

from __future__ import annotations

#: extra -> (what needs it, the top-level modules it installs)
EXTRAS: dict[str, tuple[str, frozenset[str]]] = {
    "aws": ("an s3:// store or an EC2 cluster (--infra)", frozenset({"boto3", "botocore", "s3transfer"})),
    "mariadb": ("a scenario with a MariaDB dependency", frozenset({"pymysql"})),
}


def missing_extra_line(exc: ModuleNotFoundError) -> str | None:
    """The one line for an import that failed because an extra is not installed, else None."""
    top = (exc.name or "").split(".")[0]
    for extra, (purpose, modules) in EXTRAS.items():
        if top in modules:
            return f"{top} is not installed: {purpose} needs the [{extra}] extra: pip install 'perfgate[{extra}]'"
    return None
