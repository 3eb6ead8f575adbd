"""From inside a real sandbox server: a researcher's kernel submits an output request.

Uses the sandbox hub of ``conftest.py`` (``sandbox/jupyterhub_config.py``, root, Unix accounts): the
kernel runs as alice's unprivileged Unix user, which can write neither the registry nor the audit log;
it reaches the review service at ``$HDC_OUTPUTS_URL`` with the server's own ``$JUPYTERHUB_API_TOKEN``.
The kernel uses only the standard library (the single-user environment's toolkit copy may be older).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from .conftest import World

pytestmark = [pytest.mark.hub]

KERNEL = r"""
import json, os, urllib.request, urllib.error
name = "submitted-%d.csv" % os.getpid()
with open(os.path.join(os.environ["HDC_OUTPUTS_DIR"], name), "w") as fh:
    fh.write("age_group,count\n18-39,40\n40-64,45\n65+,50\n")

def post(files):
    req = urllib.request.Request(
        os.environ["HDC_OUTPUTS_URL"] + "api/requests",
        data=json.dumps({"project": os.environ["HDC_PROJECT"], "files": files,
                         "context": "counts by age group, from the sandbox"}).encode(),
        method="POST",
        headers={"Authorization": "token " + os.environ["JUPYTERHUB_API_TOKEN"],
                 "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())

ok = post(["outputs/" + name])
escape = post(["outputs/../data/cohort.parquet"])
print(json.dumps({"name": name, "ok": ok, "escape": escape}))
"""


def test_a_researcher_submits_from_inside_their_server(
    sandbox_world: World, running_servers: dict[tuple[str, str], Any]
) -> None:
    from hdc_toolkit.exceptions import NotFoundError
    from hdc_toolkit.outputs.airlock import Airlock
    from hdc_toolkit.projects.registry import Permit, open_registry

    w = sandbox_world
    project = w.projects["alpha"]
    registry = open_registry(w.settings)
    try:
        registry.current_permit(project)
    except NotFoundError:
        with registry.write() as s:
            s.add(
                Permit(
                    project_id=project,
                    version=1,
                    application_json="{}",
                    sha256="ef" * 32,
                    approved_by="steward",
                )
            )
    assert ("alice", "alpha") in running_servers  # started by the shared fixture
    result = w.client.execute("alice", project, KERNEL)
    assert result.ok, result
    data: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    status, reply = data["ok"]
    log = w.hub.log_path.read_text(errors="replace")
    if status != 201:
        pytest.fail(f"{reply}\n{log[log.rfind('Traceback') :][:4000]}", pytrace=False)
    assert reply["author"] == "alice" and reply["state"] == "submitted" and reply["files"] == [data["name"]]
    req = Airlock(w.settings).get(reply["id"])
    assert req.author == "alice" and req.project_id == project
    assert ("output.requested", "alice") in [(e["action"], e["actor"]) for e in w.audit()]
    status, reply = data["escape"]
    assert status == 400 and reply["error"]["field"] == "files[0]"
