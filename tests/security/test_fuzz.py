"""Schema-driven fuzzing of the whole API, in process: no answer is a server error, every error has the JSON shape.

Schemathesis reads the service's own OpenAPI document and generates requests for every operation, valid
and invalid (wrong types, missing fields, odd strings, random bytes as images); each is sent with a key of
every role and with none. The run is deterministic (derandomised, no example database) and bounded by
``MAX_EXAMPLES`` per operation and mode (valid, invalid): about a minute of CPU. An exception raised in the
app (a 500 from a real server) and an error answer in another shape both fail it.
"""

from __future__ import annotations

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tessera.api.app import create_app
from tessera.settings import Settings
from tessera.workflows.instance import Instance
from tessera.workflows.keys import create_key
from tests.service_fixtures import Api

pytestmark = pytest.mark.slow

MAX_EXAMPLES = 8
"""Generated requests per operation (each sent once per role and once without a key)."""

ROLES = ("admin", "enroller", "verifier", "auditor", "adjudicator")


@pytest.fixture
def fuzzed(tmp_path):
    """The app of a fresh instance, its OpenAPI document as schemathesis reads it, and a key of every role."""
    instance = Instance.open(Settings(data_dir=tmp_path / "var"))
    keys = {role: {"Authorization": f"Bearer {create_key(instance, 'fuzz', role).secret}"} for role in ROLES}
    app = create_app(instance)
    api = Api(TestClient(app), keys)
    gallery = api.gallery()
    known = {"gallery_id": gallery, "subject_id": api.subject(gallery)}
    yield schemathesis.openapi.from_asgi("/openapi.json", app), keys, known
    instance.close()


def with_known_ids(known: dict[str, str]):
    """Put an existing gallery's or subject's id in the path of half the requests, so they reach past the 404."""

    def put(drawn):
        case, use_known = drawn
        if use_known and case.path_parameters:
            for name in case.path_parameters.keys() & known.keys():
                case.path_parameters[name] = known[name]
        return case

    return put


def error_shape_problem(response) -> str | None:
    """What is wrong with an error answer, or None when it is ``{"error": {"code": str, "message": str, ...}}``."""
    try:
        body = response.json()
    except ValueError:
        return "not JSON"
    if not isinstance(body, dict) or set(body) != {"error"} or not isinstance(body["error"], dict):
        return f"not {{'error': {{...}}}}: {body!r:.200}"
    if not all(isinstance(body["error"].get(field), str) and body["error"][field] for field in ("code", "message")):
        return f"no code or message: {body!r:.200}"
    return None


def fuzz_operation(operation, mode: GenerationMode, keys: dict, known: dict, problems: list[str]) -> None:
    """Send ``MAX_EXAMPLES`` generated requests for ``operation`` with every key and none; note what goes wrong."""

    cases = st.tuples(operation.as_strategy(generation_mode=mode), st.booleans()).map(with_known_ids(known))

    @given(case=cases)
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
        phases=(Phase.explicit, Phase.generate),
    )
    def run(case) -> None:
        for role, headers in (*keys.items(), ("no key", {})):
            try:
                response = case.call(headers=headers)
            except Exception as error:  # the app raised: the server answers 500 and re-raises it in process
                problems.append(f"{case.method} {case.formatted_path} ({mode}, {role}) -> 500: {error!r:.300}")
                continue
            where = f"{case.method} {case.formatted_path} ({mode}, {role}) -> {response.status_code}"
            if response.status_code >= 500:
                problems.append(f"{where}: {response.text:.300}")
            elif response.status_code >= 400:
                problem = error_shape_problem(response)
                if problem is not None:
                    problems.append(f"{where}: {problem}")

    try:
        run()
    except Unsatisfiable:
        if mode is GenerationMode.POSITIVE:
            raise
        # An operation with no input (GET /healthz) or only free-form strings has no invalid request to make.


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzed_requests_get_no_server_error_and_the_json_error_shape(fuzzed, mode):
    schema, keys, known = fuzzed
    problems: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20  # the whole API, not an empty document
    for operation in operations:
        fuzz_operation(operation, mode, keys, known, problems)
    assert not problems, "\n".join(sorted(set(problems))[:40])
