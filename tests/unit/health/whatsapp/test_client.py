"""The WhatsApp service client against the stand-in service (a real HTTP server on 127.0.0.1)."""

from __future__ import annotations

import json
import logging
import traceback

import pytest
import requests

from include.health.whatsapp.adapters import WhatsAppService, get_adapter
from include.health.whatsapp.client import ServiceUnavailable, Session, SessionRejected, WhatsAppAdapter
from tools.whatsapp_standin import StandinService

KEY = "wa-test-key-7f3c9e1b2d"
TIMEOUT = 0.5


@pytest.fixture
def standin():
    # slow_seconds only needs to exceed the client timeout; stop() wakes a sleeping handler.
    with StandinService(KEY, slow_seconds=3) as service:
        yield service


@pytest.fixture
def client(standin, connections) -> WhatsAppService:
    connections({"whatsapp_service": standin.connection_json(timeout=TIMEOUT)})
    return WhatsAppService()


def _assert_no_key(*texts: str) -> None:
    for text in texts:
        assert KEY not in text


def test_happy_path_reads_and_creates(standin, client):
    standin.add_session("webjs_1_1763300356_ot6RUaMF", "connected", "62811801641", 1)
    standin.add_session("webjs_2_1763300400_abcdEFGH", "qr_required", None, 2)

    health = client.health()
    assert health["status"] == "ok" and health["sessions"] == {"total": 2, "connected": 1}
    assert client.sessions() == [
        Session("webjs_1_1763300356_ot6RUaMF", "connected", "62811801641", 1),
        Session("webjs_2_1763300400_abcdEFGH", "qr_required", None, 2),
    ]
    assert client.create_session("webjs_3_new", 3) == "created"
    assert standin.sessions["webjs_3_new"] == {"session_id": "webjs_3_new", "status": "initializing",
                                               "phone_number": None, "workspace_id": 3}
    assert client.create_session("webjs_3_new", 3) == "exists"  # 409 is the outcome we wanted
    assert standin.requests == [("GET", "/health"), ("GET", "/api/sessions"), ("POST", "/api/sessions"),
                                ("POST", "/api/sessions")]
    assert isinstance(client, WhatsAppAdapter)


def test_key_is_sent_as_query_parameter(standin, client, caplog):
    # The stand-in answers 401 without the right key, so a successful read proves it was sent;
    # urllib3's DEBUG request line shows it went as ?api_key= (redacted there).
    caplog.set_level(logging.DEBUG)
    client.sessions()
    request_lines = [r.getMessage() for r in caplog.records if r.name == "urllib3.connectionpool"]
    assert any("/api/sessions?api_key=***" in line for line in request_lines), request_lines
    _assert_no_key(caplog.text)


def test_repr_and_attributes_do_not_show_the_key(client):
    assert KEY not in repr(client) and KEY not in str(client)
    assert client.base_url.startswith("http://127.0.0.1:") and client.timeout == TIMEOUT


@pytest.mark.parametrize("mode, reason, phrase", [
    ("down", "unreachable", "connection closed without an answer"),
    ("slow", "timeout", "did not answer within 0.5s (timeout)"),
    ("error500", "server_error", "answered HTTP 500 (server error)"),
    ("malformed", "malformed", "answered with malformed JSON"),
    ("wrong_shape", "bad_shape", "answered with an unexpected shape"),
])
@pytest.mark.parametrize("call", ["health", "sessions"])
def test_each_failure_mode_raises_a_clear_error_without_the_key(standin, client, caplog, capsys, mode, reason,
                                                                phrase, call):
    caplog.set_level(logging.DEBUG)
    standin.set_mode(mode)
    with pytest.raises(ServiceUnavailable) as info:
        getattr(client, call)()
    assert info.value.reason == reason
    message = str(info.value)
    assert phrase in message and "WhatsApp service at http://127.0.0.1:" in message
    assert ("/health" if call == "health" else "/api/sessions") in message
    _assert_no_key(message, repr(info.value), "".join(traceback.format_exception(info.value)), caplog.text,
                   *capsys.readouterr())


def test_wrong_key_says_api_key_rejected(standin, client, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    standin.api_key = "the-service-expects-another-key"
    with pytest.raises(ServiceUnavailable, match=r"API key rejected \(HTTP 401\)") as info:
        client.sessions()
    assert info.value.reason == "auth" and "'whatsapp_service'" in str(info.value)
    with pytest.raises(ServiceUnavailable, match="API key rejected"):
        client.create_session("webjs_9", 9)
    assert standin.sessions == {}
    _assert_no_key(str(info.value), "".join(traceback.format_exception(info.value)), caplog.text,
                   *capsys.readouterr())


def test_connection_refused_when_the_service_is_stopped(standin, client, caplog):
    caplog.set_level(logging.DEBUG)
    standin.stop()
    with pytest.raises(ServiceUnavailable, match=r"is unreachable \(connection refused\)") as info:
        client.health()
    assert info.value.reason == "unreachable"
    # No chained requests exception: its text holds the full URL with the key.
    assert info.value.__cause__ is None and info.value.__suppress_context__
    _assert_no_key(str(info.value), caplog.text)


def test_sessions_failure_with_healthy_health(standin, client):
    standin.set_mode("error500", path="/api/sessions")
    assert client.health()["status"] == "ok"
    with pytest.raises(ServiceUnavailable, match="GET /api/sessions"):
        client.sessions()


def test_unhealthy_status_and_bad_entries_are_refused(standin, client, monkeypatch):
    monkeypatch.setattr(standin, "health_body", lambda: {"status": "degraded", "uptime": 3})
    with pytest.raises(ServiceUnavailable, match="reports status 'degraded'") as info:
        client.health()
    assert info.value.reason == "unhealthy"
    standin.add_session("ok_1")
    monkeypatch.setattr(type(standin), "sessions", property(lambda self: {"x": {"session_id": 7}}))
    with pytest.raises(ServiceUnavailable, match="entry 0 lacks a 'session_id' or 'status' string"):
        client.sessions()


def test_create_session_failures(standin, client):
    standin.set_mode("error500", path="/api/sessions", method="POST")
    assert client.sessions() == []  # GET unaffected
    with pytest.raises(ServiceUnavailable, match="answered HTTP 500") as info:
        client.create_session("webjs_1_a", 1)
    assert info.value.reason == "server_error"
    standin.set_mode("ok")
    with pytest.raises(SessionRejected, match="HTTP 400"):
        client.create_session("", 1)  # the service validates its input
    standin.set_mode("slow", method="POST")
    with pytest.raises(ServiceUnavailable, match="timeout"):
        client.create_session("webjs_1_b", 1)


@pytest.mark.parametrize("conn, base_url", [
    ({"host": "wa.internal", "port": 3001}, "http://wa.internal:3001"),
    ({"host": "wa.internal", "schema": "https"}, "https://wa.internal"),
    ({"host": "https://wa.example.com/"}, "https://wa.example.com"),
])
def test_base_url_from_connection(connections, conn, base_url):
    connections({"wa": json.dumps({"conn_type": "http", "password": KEY, **conn})})
    assert WhatsAppService("wa").base_url == base_url


def test_api_key_from_extra_and_timeout(standin, connections):
    connections({"wa": json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": standin.port,
                                   "extra": {"api_key": KEY, "timeout": "2.5"}})})
    client = WhatsAppService("wa")
    assert client.timeout == 2.5
    assert client.sessions() == []  # authenticated with the extra's key


def test_missing_key_or_host_is_a_clear_config_error(connections):
    connections({"nokey": json.dumps({"conn_type": "http", "host": "127.0.0.1", "port": 1}),
                 "nohost": json.dumps({"conn_type": "http", "password": KEY})})
    with pytest.raises(ValueError, match="no API key; set its password or extra 'api_key'"):
        WhatsAppService("nokey")
    with pytest.raises(ValueError, match="has no host"):
        WhatsAppService("nohost")


def test_get_adapter(standin, connections):
    from include.health.whatsapp.adapters import EvolutionService, WahaService, WwebjsApiService

    def conn(extra):
        return json.dumps({"conn_type": "http", "host": "x", "password": KEY, "extra": extra})

    connections({"whatsapp_service": standin.connection_json(),
                 "legacy_nodejs": conn({"adapter": "nodejs"}), "legacy_waha": conn({"adapter": "waha"}),
                 "seed": conn({"flavor": "seed"}), "waha": conn({"flavor": "WAHA"}),
                 "wwebjs": conn({"flavor": "wwebjs_api"}), "evo": conn({"flavor": "evolution", "adapter": "nodejs"}),
                 "typo": conn({"flavor": "wweb"}), "legacy_typo": conn({"adapter": "baileys"})})
    assert type(get_adapter()) is WhatsAppService  # no extra: the seed's service
    assert type(get_adapter("legacy_nodejs")) is WhatsAppService and type(get_adapter("seed")) is WhatsAppService
    assert type(get_adapter("legacy_waha")) is WahaService and type(get_adapter("waha")) is WahaService
    assert type(get_adapter("wwebjs")) is WwebjsApiService
    assert type(get_adapter("evo")) is EvolutionService  # 'flavor' wins over the older 'adapter'
    with pytest.raises(ValueError, match=r"connection 'typo' names WhatsApp service flavor 'wweb' \(extra 'flavor'\); "
                                         r"allowed: seed, waha, wwebjs_api, evolution"):
        get_adapter("typo")
    with pytest.raises(ValueError, match=r"connection 'legacy_typo' .* 'baileys' \(extra 'adapter'\)"):
        get_adapter("legacy_typo")


# -- the stand-in itself -------------------------------------------------------------------------
def test_standin_accepts_header_key_and_control_endpoint(standin):
    standin.add_session("s1", "connected", "6281", 1)
    assert requests.get(f"{standin.url}/api/sessions", timeout=5).status_code == 401
    answer = requests.get(f"{standin.url}/api/sessions", headers={"X-API-Key": KEY}, timeout=5)
    assert answer.json()["sessions"][0]["session_id"] == "s1"

    control = requests.post(f"{standin.url}/_control", json={"mode": "error500", "create_status": "qr_required"},
                            timeout=5)
    assert control.json()["mode"] == "error500" and standin.mode == "error500"
    assert requests.get(f"{standin.url}/health", timeout=5).status_code == 500
    requests.post(f"{standin.url}/_control", json={"mode": "ok"}, timeout=5)
    created = requests.post(f"{standin.url}/api/sessions", params={"api_key": KEY},
                            json={"session_id": "s2", "workspace_id": 2}, timeout=5)
    assert created.status_code == 201 and created.json() == {"success": True, "status": "qr_required",
                                                             "session_id": "s2"}
    assert requests.post(f"{standin.url}/_control", json={"mode": "nope"}, timeout=5).status_code == 400
    assert all(KEY not in path for _, path in standin.requests)
