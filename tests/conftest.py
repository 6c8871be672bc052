"""Shared pytest fixtures.

BigQuery-path tests run against a real local BigQuery emulator (see ``tests/bqemulator.py``):

``bq_emulator``   session: a running :class:`~tests.bqemulator.BQEmulator` (own virtualenv,
                  127.0.0.1, temp data dir).  Skips when the emulator cannot be installed,
                  fails instead when ``IDCSEG_REQUIRE_BQEMULATOR=1``.
``bq_client``     session: ``google.cloud.bigquery.Client`` (anonymous credentials) on it.
``bq_idc``        session: ``bigquery-public-data.idc_v25`` and ``idc_v12`` loaded with the
                  IDC-shaped fixture world; returns ``{"idc_v25": {"segmentations": Table,
                  "dicom_all": Table}, ...}``.  Treat these datasets as read-only; create your
                  own dataset (e.g. in project ``idcseg-test``) for anything you modify.
``google_offline_env``  session, autouse: no GCE metadata probes, no proxies for loopback.

Every test that uses ``bq_emulator`` (directly or through another fixture) is marked
``bqemulator``: ``pytest -m "not bqemulator"`` leaves them out.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from tests.bqemulator import (
    ENV_REQUIRE,
    BQEmulator,
    EmulatorUnavailable,
    apply_offline_google_env,
    ensure_emulator_python,
    load_idc_fixture,
    restore_env,
)

if TYPE_CHECKING:
    from google.cloud import bigquery


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "bqemulator: runs against a local BigQuery emulator (bqemulator subprocess)"
    )


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "bq_emulator" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.bqemulator)


@pytest.fixture(scope="session", autouse=True)
def google_offline_env() -> Iterator[None]:
    """Keep google-auth off the GCE metadata server and proxies off loopback, for every test."""
    previous = apply_offline_google_env()
    yield
    restore_env(previous)


@pytest.fixture(scope="session")
def bq_emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BQEmulator]:
    """A bqemulator process for the whole session, stopped at the end."""
    try:
        python = ensure_emulator_python()
    except EmulatorUnavailable as exc:
        if os.environ.get(ENV_REQUIRE) == "1":
            pytest.fail(f"bqemulator required but unavailable: {exc}")
        pytest.skip(f"bqemulator unavailable: {exc}")
    emulator = BQEmulator(python, tmp_path_factory.mktemp("bqemulator"))
    emulator.start()
    try:
        yield emulator
    finally:
        emulator.stop()


@pytest.fixture(scope="session")
def bq_client(bq_emulator: BQEmulator) -> Iterator[bigquery.Client]:
    """A real BigQuery client on the session emulator; jobs run in project ``idcseg-test``."""
    client = bq_emulator.make_client()
    yield client
    client.close()  # type: ignore[no-untyped-call]


@pytest.fixture(scope="session")
def bq_idc(bq_client: bigquery.Client) -> dict[str, dict[str, bigquery.Table]]:
    """IDC-shaped ``bigquery-public-data.idc_v25`` and ``idc_v12`` (read-only by convention)."""
    return load_idc_fixture(bq_client)
