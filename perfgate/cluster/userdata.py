"""Render the cloud-init user-data (``infra/cloud-init/*.j2``) with Jinja.

Every ``{{ value }}`` is shell-quoted by the environment's ``finalize`` (the
shell counterpart of HTML autoescaping), and undefined names are errors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from perfgate.errors import InfraError
from perfgate.shell import quote_value

TEMPLATE = "node.sh.j2"
#: EC2's limit on user-data, before base64.
MAX_USER_DATA = 16 * 1024


@dataclass(frozen=True)
class RoleRange:
    role: str
    first: int  # launch indexes [first, end) within the launch group
    end: int


def template_dir() -> Path:
    override = os.environ.get("PERFGATE_CLOUD_INIT_DIR")
    if override:
        return Path(override)
    from perfgate.cluster.bundle import project_root

    return project_root() / "infra" / "cloud-init"


def _quote(value: Any) -> str:
    return quote_value(value if isinstance(value, (str, int, float)) else str(value))


def render(
    roles: list[RoleRange],
    *,
    run_id: str,
    bucket: str,
    run_prefix: str,
    region: str,
    urls: dict[str, str],
    wheel_name: str,
    deadman_s: int,
    deadline: str,
) -> str:
    folder = template_dir()
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        finalize=_quote,
        autoescape=False,
        keep_trailing_newline=True,
    )
    try:
        text = env.get_template(TEMPLATE).render(
            roles=roles,
            run_id=run_id,
            bucket=bucket,
            run_prefix=run_prefix,
            region=region,
            urls=urls,
            wheel_name=wheel_name,
            deadman_s=int(deadman_s),
            deadman_min=max(1, int(deadman_s) // 60 + 1),
            deadline=deadline,
        )
    except jinja2.TemplateNotFound as exc:
        raise InfraError(f"{folder / TEMPLATE}: cloud-init template not found") from exc
    except jinja2.TemplateError as exc:
        raise InfraError(f"{folder / TEMPLATE}: {exc}") from exc
    if len(text.encode()) > MAX_USER_DATA:
        raise InfraError(
            f"{folder / TEMPLATE}: rendered user-data is {len(text.encode())} bytes, EC2 allows {MAX_USER_DATA}"
        )
    return text
