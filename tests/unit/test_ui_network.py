"""ui.network: whom single-user mode serves (AppTest cannot set the client address, so the decision is
a pure function), and the shipped .streamlit/config.toml: loopback only, uploads sized for a SPECT series."""

from __future__ import annotations

import ipaddress
import tomllib

import pytest

from tests.support import REPO
from ui.network import is_local, may_serve

CONFIG = tomllib.loads((REPO / ".streamlit" / "config.toml").read_text())
MIB = 1024 * 1024


@pytest.mark.parametrize("address", [None, "127.0.0.1", "127.0.0.2", "127.255.255.254", "::1",
                                     "::ffff:127.0.0.1", " 127.0.0.1 "])
def test_loopback_is_local(address):
    # None: st.context.ip_address gives None for 127.0.0.1 and ::1 (streamlit/runtime/context.py).
    assert is_local(address)


@pytest.mark.parametrize("address", ["192.0.2.7", "10.0.0.1", "0.0.0.0", "::", "fd00::2", "fe80::1%eth0",
                                     "::ffff:192.0.2.7", "128.0.0.1", "localhost", "", "127.0.0.1.evil.example"])
def test_anything_else_is_not_local(address):
    assert not is_local(address)


@pytest.mark.parametrize("address", ["::1", "0:0:0:0:0:0:0:1", "0000:0000:0000:0000:0000:0000:0000:0001", "::0001",
                                     "::", "1::", "::ffff:127.0.0.1", "::ffff:7f00:1", "0:0:0:0:0:ffff:127.1.2.3",
                                     "::ffff:192.0.2.7", "::127.0.0.1", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7::",
                                     "1:2:3:4:5:6:7:8:9", "1::2::3", ":1", "12345::", "::ffff:127.0.0.256",
                                     "127.0.0.1", "127.1", "01.0.0.1", "g::1", "::ffff:1.2.3.4:5"])
def test_is_local_agrees_with_the_standard_library(address):
    """ui/network.py parses addresses itself (ui/ catches no ValueError): the same answers as ipaddress."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        expected = False
    else:
        mapped = getattr(ip, "ipv4_mapped", None)
        expected = ip.is_loopback or (mapped is not None and mapped.is_loopback)
    assert is_local(address) is expected


def test_single_user_mode_serves_this_computer_only():
    assert may_serve(False, None) and may_serve(False, "127.0.0.1") and may_serve(False, "::1")
    assert not may_serve(False, "192.0.2.7")
    assert not may_serve(False, "fd00::2")
    assert not may_serve(False, None, proxied=True)  # a proxy on this computer forwards other computers
    assert not may_serve(False, "127.0.0.1", proxied=True)


def test_with_sign_in_every_client_is_served_and_the_role_decides():
    assert may_serve(True, "192.0.2.7") and may_serve(True, None, proxied=True)


def test_the_shipped_config_binds_loopback_and_names_loopback_hosts_only():
    server = CONFIG["server"]
    assert server["address"] == "127.0.0.1"
    assert set(server["allowedHosts"]) <= {"localhost", "127.0.0.1", "::1"}
    assert server.get("enableXsrfProtection", True) and server.get("enableCORS", True)
    assert not server.get("unsafeMetricsUserAttributes")  # would put e-mail addresses on /_stcore/metrics


def test_the_upload_limit_fits_a_spect_series_and_no_more():
    limit_mib = CONFIG["server"]["maxUploadSize"]  # MB as Streamlit counts them: MiB
    time_point = 128 ** 3 * 4  # one quantitative SPECT time point, float32
    zipped_series = 5 * time_point + time_point + 8 * MIB  # 5 time points, an RTDOSE, a label map
    assert limit_mib * MIB >= zipped_series
    assert limit_mib * MIB >= 256 * 256 * 256 * 4  # a larger matrix, uploaded file by file
    assert limit_mib <= 100  # was 1024: a gigabyte held in memory per file and session
