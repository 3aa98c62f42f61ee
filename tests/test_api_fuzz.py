"""Property-based fuzzing of the HTTP API from its own OpenAPI description (schemathesis), bounded in
examples and time: no request may produce a 5xx, and responses must match the description."""

from __future__ import annotations

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings

from schemathesis.checks import positive_data_acceptance

from server.settings import Settings
from server.web.openapi import openapi_document
from tests import media_files
from tests.server_harness import ServerThread

pytestmark = pytest.mark.slow

ADMIN_TOKEN = "fuzzing-admin-token"
schema = schemathesis.openapi.from_dict(openapi_document(Settings().max_upload_bytes))


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> ServerThread:
    thread = ServerThread(tmp_path_factory.mktemp("data"), workers=1, admin_token=ADMIN_TOKEN).start()
    # One real background, so reads and deletes by id sometimes hit something.
    requests.post(f"{thread.url}/api/backgrounds", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
                  files={"file": ("seed.png", media_files.encode(media_files.photo(), "PNG"))}, timeout=30)
    yield thread
    thread.stop()


def test_the_served_description_is_the_fuzzed_one(server: ServerThread) -> None:
    assert requests.get(f"{server.url}/api/openapi.json", timeout=10).json() == schema.raw_schema


@schema.parametrize()
@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@pytest.mark.parametrize("authorized", [True, False], ids=["admin", "anonymous"])
def test_no_request_breaks_the_api(case, server: ServerThread, authorized: bool) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"} if authorized else {}
    response = case.call(base_url=server.url, headers=headers, timeout=30)
    assert response.status_code < 500, (response.status_code, response.text, case.as_curl_command())
    if authorized:
        # Every check but "schema-valid data is accepted": an upload's schema cannot say "a decodable image
        # of at least 32x32 pixels", so random bytes are rightly refused with 400.
        case.validate_response(response, excluded_checks=[positive_data_acceptance])
    assert requests.get(f"{server.url}/healthz", timeout=10).status_code == 200
