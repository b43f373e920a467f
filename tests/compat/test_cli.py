"""The command line contract (docs: design brief, "Command line"): version, check-config."""

import subprocess

import requests
import yaml

from conftest import build_config, clean_env, free_ports, quartet_bin, LISTENERS


def run(*args, cwd=None):
    return subprocess.run(
        [str(quartet_bin()), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=clean_env(),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
    )


def test_version_command_matches_the_version_endpoint(quartet):
    r = run("version")
    assert r.returncode == 0, r.stderr
    served = requests.get(quartet.identity_public + "/version", timeout=5).json()["version"]
    assert served in r.stdout, (r.stdout, served)


def test_check_config_accepts_the_suite_s_own_config(tmp_path):
    ports = dict(zip(LISTENERS, free_ports(len(LISTENERS))))
    cfg = tmp_path / "quartet.yml"
    cfg.write_text(yaml.safe_dump(build_config(tmp_path, ports, "memory")))
    r = run("check-config", "-c", str(cfg))
    assert r.returncode == 0, r.stdout + r.stderr


def test_check_config_names_the_key_path_of_an_unknown_key(tmp_path):
    cfg = tmp_path / "bad.yml"
    cfg.write_text("dsn: memory\nidentity:\n  serve:\n    public:\n      prot: 4433\n")
    r = run("check-config", "-c", str(cfg))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "identity.serve.public.prot" in r.stdout + r.stderr


def test_check_config_names_the_key_path_of_a_wrong_type(tmp_path):
    cfg = tmp_path / "bad.yml"
    cfg.write_text("dsn: memory\npermission:\n  serve:\n    read:\n      port: not-a-port\n")
    r = run("check-config", "-c", str(cfg))
    assert r.returncode == 1, r.stdout + r.stderr
    assert "permission.serve.read.port" in r.stdout + r.stderr
