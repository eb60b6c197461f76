"""Shared test settings: offline, deterministic, bounded hypothesis runs."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
# The fused closed forms compile on first use, so tests prove the compiled passes (a stage
# process otherwise runs small inputs eagerly: las.neurons.compiled.EAGER_ELEMENTS).
os.environ.setdefault("LAS_COMPILE_AFTER", "0")
# Downloads (embedded models, data assets) go to one cache shared by the test runs.
TEST_CACHE = os.environ.get(
    "LAS_TEST_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "las-test-assets")
)
os.environ.setdefault("LAS_CACHE", TEST_CACHE)

from hypothesis import HealthCheck, settings  # noqa: E402

settings.register_profile(
    "las", max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("las")


import socket  # noqa: E402

import pytest  # noqa: E402

LOCAL_HOSTS = {"localhost", "127.0.0.1", "::1", None}


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Fail any test that resolves or connects to an internet host (local sockets allowed)."""
    real_connect, real_getaddrinfo = socket.socket.connect, socket.getaddrinfo

    def connect(sock, address):
        if sock.family in (socket.AF_INET, socket.AF_INET6) and address[0] not in LOCAL_HOSTS:
            raise RuntimeError(f"network access attempted in a test: {address}")
        return real_connect(sock, address)

    def getaddrinfo(host, *args, **kwargs):
        if host not in LOCAL_HOSTS:
            raise RuntimeError(f"network access attempted in a test: lookup of {host!r}")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture(scope="session")
def chain(tmp_path_factory):
    """One finished tiny stage chain (tests/stage_chain.py), shared by the stage tests."""
    from tests.stage_chain import run_chain

    return run_chain(tmp_path_factory.mktemp("chain"))


@pytest.fixture(scope="session")
def baselines(chain):
    """FAS (both stages) and naive converted folders on the tiny chain (tests/stage_chain.py)."""
    from tests.stage_chain import run_baselines

    return run_baselines(chain)


@pytest.fixture(scope="session")
def workflow(tmp_path_factory):
    """The reduced embedded workflow run once to completion (tests/test_workflow.py)."""
    from tests.test_workflow import run_reduced

    return run_reduced(tmp_path_factory.mktemp("workflow"))
