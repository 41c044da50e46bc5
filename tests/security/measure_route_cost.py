"""CPU, peak memory and status of every malicious image on every upload route, one request at a time, as served.

Run from the repository: ``python -m tests.security.measure_route_cost [IMAGE ...]``

Opens a throw-away instance, starts the service in process (``create_app`` with its lifespan, so the models are
loaded and warmed up as in a running service), enrols a subject's references from the evaluation data (as
``test_malicious_images.py`` does, so that verification reads every probe), then sends each image of the
malicious-image set (``tests/security/malicious_images.py``; or the ``IMAGE`` names given) each way of uploading an
image that ``test_malicious_images.routes`` lists (a face or a finger of either kind on enrol, verify and identify;
a hand's photo on enrol, verify and identify by hand; the first of five liveness burst frames and all ten of a burst
of ten; a consent evidence image), one request at a time. For each request: the CPU time of the whole process
(every thread) and its peak resident memory above what it held before (Linux ``/proc/self/clear_refs``), and the
status. Ends with, per route, the worst CPU, the worst memory and the number of 5xx answers.

The verification limits (``verify_limit_per_subject``, 30 an hour) are raised for the run: every image is verified
against one subject, which the service would otherwise refuse (429) after the 30th verification.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from fastapi.testclient import TestClient

from tessera.api.app import create_app
from tessera.settings import Settings
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tests.security.malicious_images import MALICIOUS_IMAGES, malicious_image
from tests.security.measure_image_cost import status_kb
from tests.security.test_malicious_images import Route, enrol_references, prepare, routes, send
from tests.service_fixtures import Api

ROLES = ("admin", "enroller", "verifier")


def measure(api: Api, route: Route, name: str, data: bytes) -> tuple[int, float, float]:
    """(status, CPU seconds of the process, peak memory in MB above the resident memory before) of one request."""
    with open("/proc/self/clear_refs", "w") as refs:
        refs.write("5")  # the peak is now the current resident memory
    base = status_kb("VmRSS")
    began = time.process_time()
    response = send(api, route, name, data)
    cpu = time.process_time() - began
    return response.status_code, cpu, (status_kb("VmHWM") - base) / 1024


def main(names: list[str]) -> None:
    with tempfile.TemporaryDirectory() as folder:
        limits = {"verify_limit_per_subject": 1_000_000, "verify_limit_per_key": 1_000_000}
        instance = Instance.open(Settings(data_dir=Path(folder) / "var", **limits))
        headers = {role: {"Authorization": f"Bearer {create_key(instance, 'measure', role).secret}"} for role in ROLES}
        with TestClient(create_app(instance, background_jobs=False), raise_server_exceptions=False) as client:
            client.app.state.models_warm.wait()  # as a service some seconds after its start
            api = Api(client, headers)
            gallery = api.gallery()
            prepare(api, gallery)
            subject = api.subject(gallery, modalities=("face", "finger"))
            print(f"references enrolled: {', '.join(enrol_references(api, subject)) or 'none'}")
            targets = routes(subject, gallery)
            rows = []
            print(f"{'image':34} {'route':28} {'status':>6} {'CPU s':>6} {'peak MB':>8}")
            for name in names:
                data = malicious_image(name)
                for route in targets:
                    status, cpu, peak = measure(api, route, name, data)
                    rows.append((name, route.name, status, cpu, peak))
                    print(f"{name:34} {route.name:28} {status:>6} {cpu:>6.2f} {peak:>8.0f}", flush=True)
        instance.close()
    print(f"\n{'route':28} {'requests':>8} {'5xx':>4} {'max CPU s':>9} {'max peak MB':>11}  worst CPU; worst memory")
    for route in targets:
        mine = [row for row in rows if row[1] == route.name]
        cpu, memory = max(mine, key=lambda row: row[3]), max(mine, key=lambda row: row[4])
        errors = sum(row[2] >= 500 for row in mine)
        print(f"{route.name:28} {len(mine):>8} {errors:>4} {cpu[3]:>9.2f} {memory[4]:>11.0f}  {cpu[0]}; {memory[0]}")
    print(f"all routes: {len(rows)} requests, {sum(row[2] >= 500 for row in rows)} answered 5xx")


if __name__ == "__main__":
    main(sys.argv[1:] or list(MALICIOUS_IMAGES))
