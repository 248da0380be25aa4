"""Temporal beyond the dev server: the exact options every client hands the SDK.
The dev server `temporal server start-dev` cannot serve TLS (no TLS flag in its --help), so
the options are checked here and `connect` passes exactly these (settings/__init__.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.service import TLSConfig

from settings import Settings, connect_options


def test_dev_server_plain_connection():
    options = connect_options(Settings.from_env({}))
    assert options["tls"] is False and options["api_key"] is None
    assert options["namespace"] == "default"


def test_mtls_reads_cert_key_and_ca(tmp_path: Path):
    for name in ("cert", "key", "ca"):
        (tmp_path / f"{name}.pem").write_bytes(f"-----{name}-----".encode())
    settings = Settings.from_env({
        "TEMPORAL_TLS_CERT": str(tmp_path / "cert.pem"), "TEMPORAL_TLS_KEY": str(tmp_path / "key.pem"),
        "TEMPORAL_TLS_CA": str(tmp_path / "ca.pem"), "TEMPORAL_NAMESPACE": "complaints.a1b2c"})
    options = connect_options(settings)
    assert options["tls"] == TLSConfig(client_cert=b"-----cert-----",
                                       client_private_key=b"-----key-----",
                                       server_root_ca_cert=b"-----ca-----")
    assert options["namespace"] == "complaints.a1b2c"


def test_temporal_cloud_api_key_turns_tls_on():
    settings = Settings.from_env({"TEMPORAL_API_KEY": "tcld-secret"})
    options = connect_options(settings)
    assert options["tls"] is True and options["api_key"] == "tcld-secret"
    assert "tcld-secret" not in repr(settings)


def test_a_cert_without_its_key_is_refused(tmp_path: Path):
    (tmp_path / "cert.pem").write_text("x")
    with pytest.raises(ValueError, match="TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together"):
        connect_options(Settings.from_env({"TEMPORAL_TLS_CERT": str(tmp_path / "cert.pem")}))
