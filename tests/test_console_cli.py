"""The console's command-line side: `-c/--config` after the command too, `inlet demo` unifying people across the
three apps and the website, and `inlet demo --keep` leaving a server whose console shows them."""

from __future__ import annotations

import os
import re
import signal
import time

import httpx
import pytest

from tests.conftest import inlet, write_config


def test_the_config_option_goes_after_the_command_too(tmp_path):
    path = write_config(tmp_path)
    before = inlet("-c", str(path), "validate")
    after = inlet("validate", "-c", str(path))
    assert before.returncode == after.returncode == 0 and before.stdout == after.stdout
    assert str(path) in after.stdout
    # given twice, the one after the command wins
    assert inlet("-c", str(tmp_path / "nope.yaml"), "validate", "--config", str(path)).returncode == 0
    missing = inlet("status", "-c", str(tmp_path / "nope.yaml"))
    assert missing.returncode == 1 and "nope.yaml" in missing.stderr
    nested = inlet("mappings", "preview", "billing", "--object", "customers", "-c", str(path))
    assert nested.returncode == 1 and "billing" in nested.stderr and "nope" not in nested.stderr  # read this config
    assert "-c, --config FILE" in inlet("sync", "--help").stdout


@pytest.mark.xdist_group("demo")
def test_the_demo_shows_people_unified_across_the_apps_and_the_website(demo):
    result, _ = demo
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    block = out.split("one person, one profile")[1].split("for example")[0]
    unified, on_web = (int(n) for n in re.findall(r"^\s+(\d+)\s+(\d+)\s*$", block, re.M)[0])
    assert unified == 60 and on_web == 3  # 30% of 200 sandbox customers; three visitors signed up with their email
    example = out.split("for example:")[1].split("refused requests")[0]
    assert '["billing","crm","shop"]' in example and " pro " in example


def test_demo_keep_leaves_the_server_running_with_its_console(tmp_path):
    result = inlet("demo", "--dir", str(tmp_path / "demo"), "--keep", timeout=180)
    pids = [int(p) for p in re.findall(r"stop them with: kill ([\d ]+)", result.stdout)[0].split()]
    try:
        assert result.returncode == 0, result.stdout + result.stderr
        url = re.search(r"The console: (http://127\.0\.0\.1:\d+)/", result.stdout).group(1)
        with httpx.Client(base_url=url, timeout=10) as http:
            overview = http.get("/")
            assert overview.status_code == 200 and 'data-source="billing"' in overview.text
            email = re.search(r"\s(\S+@example\.\w+)\s+pro\s", result.stdout).group(1)
            found = http.get("/profiles", params={"q": email}).text
            profile_id = re.findall(r'<tr data-profile="([^"]+)">', found)
            assert len(profile_id) == 1
            page = http.get(f"/profiles/{profile_id[0]}").text
            for source in ("billing", "crm", "shop"):
                assert f'data-record="{source}/customer/' in page or f'data-record="{source}/contact/' in page
            assert 'data-source="website"' in page  # the visit, on the same timeline
            number = re.search(r'data-record="shop/customer/gid://shopify/Customer/(\d+)"', page).group(1)
            by_number = http.get("/profiles", params={"q": number}).text  # as Shopify's admin shows the id
            assert re.findall(r'<tr data-profile="([^"]+)">', by_number) == profile_id
    finally:
        for pid in pids:
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.1)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
