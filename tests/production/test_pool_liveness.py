"""A database restart between requests costs no request an error.

flaskou does not ping a pooled connection before each use (that is a round
trip on every request). Instead, at checkout, it reads what the server sent
while the connection sat idle: a server that shut down sent every connection
a FATAL message and closed it, so such a connection is replaced there and
then, and the request goes on on a fresh one.
"""

from __future__ import annotations

import pytest

from tests.production.test_faults import start_service

pytestmark = [pytest.mark.slow, pytest.mark.engine_independent]


def test_the_first_requests_after_a_restart_find_fresh_connections(cluster, tmp_path):
    svc = start_service(cluster, tmp_path, "pool_liveness")
    try:
        token = svc.account("ada")
        # Several connections in the pool: concurrent-looking use through one
        # worker fills it with at least one, and every request checks one out.
        for _ in range(20):
            assert svc.call("GET", "/api/v1/users/me", token=token)[0] == 200
        cluster.stop_server()
        cluster.start_server()
        statuses = [svc.call("GET", "/api/v1/users/me", token=token)[0] for _ in range(20)]
        statuses += [svc.call("GET", "/api/v1/tokens", token=token)[0] for _ in range(5)]
        assert statuses == [200] * 25, str(statuses)
    finally:
        svc.server.stop()
