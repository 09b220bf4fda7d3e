"""docker-compose.yml and deploy/, checked without a Docker engine: structure and every
cross-reference (build files, scripts, variables, volumes, mounts, secrets, ports, the broker,
InfluxDB and Grafana provisioning against the storage schema and `peakline provision`)."""

from __future__ import annotations

import json
import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from peakline_cli.provision import provision
from peakline_core.config import PlatformConfig
from peakline_core.config.loader import AgentsFile, DevicesFile, SitesFile
from peakline_core.config.platform import Programme
from peakline_core.storage.schema import MEASUREMENTS, SERIES_TAGS

REPO = Path(__file__).resolve().parents[3]
DEPLOY = REPO / "deploy"
VAR = re.compile(r"\$\{([A-Z0-9_]+)(:?[-?])?([^}]*)\}")
SECRETISH = re.compile(r"PASSWORD|TOKEN|SECRET")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(compose["services"])


def _load(name: str) -> Any:
    return yaml.safe_load((REPO / "config" / name).read_text())


@pytest.fixture(scope="module")
def provisioned(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What `peakline provision config --out deploy/secrets` writes for the example district."""
    config = PlatformConfig(
        root=REPO / "config",
        programme=Programme.model_validate(_load("programme.yaml")),
        sites={s.id: s for s in SitesFile.model_validate(_load("sites.yaml")).sites},
        devices={d.id: d for d in DevicesFile.model_validate(_load("devices.yaml")).devices},
        agents={a.id: a for a in AgentsFile.model_validate(_load("agents.yaml")).agents},
        profiles={},
    )
    out = tmp_path_factory.mktemp("secrets")
    provision(config, out)
    return out


def _scripts() -> dict[str, tuple[str, set[str]]]:
    """Workspace package name -> (its folder, its console scripts)."""
    out = {}
    for pyproject in REPO.glob("*/pyproject.toml"):
        project = tomllib.loads(pyproject.read_text())["project"]
        out[project["name"]] = (pyproject.parent.name, set(project.get("scripts", {})))
    return out


def _mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    return [tuple(v.split(":")[:2]) for v in service.get("volumes", [])]  # type: ignore[misc]


def _stages(dockerfile: str) -> dict[str, str]:
    """A multi-stage Dockerfile's named stages: name -> its text, up to the next FROM."""
    parts = re.split(r"^(?=FROM )", dockerfile, flags=re.M)
    return {m[1]: part for part in parts if (m := re.match(r"FROM \S+ AS (\S+)", part))}


def _program(svc: dict[str, Any], stage: str) -> str:
    """The console script a service runs: after `exec` in a shell entrypoint, else the
    command's first word, else the CMD of the stage it builds."""
    if "entrypoint" in svc:
        return re.search(r"exec (\S+)", " ".join(svc["entrypoint"]))[1]  # type: ignore[index]
    if "command" in svc:
        return str(svc["command"][0])
    return str(json.loads(re.search(r"^CMD (.+)$", stage, re.M)[1])[0])  # type: ignore[index]


def _option(svc: dict[str, Any], option: str, env: str) -> str:
    """A setting given as `--option=value` in the command or as an environment variable."""
    for arg in svc.get("command", []):
        if arg.startswith(f"--{option}="):
            return str(arg.split("=", 1)[1])
    return str(svc["environment"][env])


def _in_secrets(source: str, provisioned: Path) -> Path:
    return provisioned / Path(source).relative_to("deploy/secrets")


def test_built_services_have_dockerfiles_that_copy_existing_paths(
    services: dict[str, dict[str, Any]],
) -> None:
    """One Dockerfile, one final stage per component: each service builds its own stage with
    its own workspace package, and runs a console script that package installs."""
    scripts = _scripts()
    built = {name: s for name, s in services.items() if "build" in s}
    assert set(built) == {"api", "api-2", "ingest", "ingest-2", "ingest-3", "edge", "firmware-sim"}
    for name, svc in built.items():
        context = REPO / svc["build"]["context"]
        dockerfile = context / svc["build"]["dockerfile"]
        assert dockerfile.is_file(), name
        text = dockerfile.read_text()
        for line in text.splitlines():
            if line.startswith("COPY") and "--from" not in line:
                for src in line.split()[1:-1]:
                    assert (context / src).exists(), f"{name}: COPY {src} missing"
        assert re.search(r'--package "\$PACKAGE"', text) and "ARG PACKAGE" in text
        # `uv sync --frozen` checks the lock against every workspace member, dev-only ones too
        members = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]
        copied = set(re.findall(r"^COPY (\S+)/ \1/$", text, re.M))
        assert set(members["members"]) <= copied, f"{name}: members not copied"
        stages = _stages(text)
        target = svc["build"]["target"]
        assert target in stages and stages[target].startswith("FROM runtime AS"), name
        package = svc["build"]["args"]["PACKAGE"]
        assert package in scripts, f"{name}: unknown package {package}"
        _, entry_points = scripts[package]
        program = _program(svc, stages[target])
        assert program in entry_points, f"{name}: {program} is not a script of {package}"
        assert re.search(r"^USER (?!root)\S+", stages["runtime"], re.M), f"{name}: runs as root"
    # every component stage is built by some service, and its own CMD is a script of it
    for target, stage in _stages((REPO / "deploy/Dockerfile").read_text()).items():
        if target in ("build", "runtime"):
            continue
        packages = {
            s["build"]["args"]["PACKAGE"] for s in built.values() if s["build"]["target"] == target
        }
        assert len(packages) == 1, f"{target}: built with {packages}"
        cmd = json.loads(re.search(r"^CMD (.+)$", stage, re.M)[1])[0]  # type: ignore[index]
        assert cmd in scripts[packages.pop()][1], target


def test_variables_are_documented_and_secrets_required() -> None:
    lines = (REPO / "docker-compose.yml").read_text().splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    example = (DEPLOY / "env.example").read_text()
    documented = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", example, re.M))
    required_in_example = set(re.findall(r"^([A-Z0-9_]+)=", example, re.M))
    required: set[str] = set()
    for name, op, _ in VAR.findall(text):
        assert name in documented, f"${{{name}}} is not in deploy/env.example"
        if SECRETISH.search(name):
            assert op == ":?", f"secret ${{{name}}} must be required (${{{name}:?...}})"
        if op == ":?":
            required.add(name)
        else:
            assert op == ":-", f"${{{name}}} needs a default or :?"
    assert required == required_in_example


def test_volumes_declared_and_bind_mounts_exist(
    compose: dict[str, Any], services: dict[str, dict[str, Any]], provisioned: Path
) -> None:
    declared = set(compose["volumes"])
    used: set[str] = set()
    for name, svc in services.items():
        for source, _target in _mounts(svc):
            if source.startswith("./deploy/secrets/tls"):
                continue  # the operator's certificates (docs/deployment.md)
            if source.startswith("./deploy/secrets/"):
                assert _in_secrets(source[2:], provisioned).exists(), f"{name}: {source}"
            elif source.startswith("./"):
                assert (REPO / source).exists(), f"{name}: {source} does not exist"
            else:
                assert source in declared, f"{name}: volume {source} not declared"
                used.add(source)
    assert used == declared


def test_secrets_are_what_provision_writes(
    compose: dict[str, Any], services: dict[str, dict[str, Any]], provisioned: Path
) -> None:
    files = {k: v["file"][2:] for k, v in compose["secrets"].items()}
    for path in files.values():
        assert _in_secrets(path, provisioned).is_file(), path
    for name, svc in services.items():
        for secret in svc.get("secrets", []):
            assert secret in files, f"{name}: secret {secret} not declared"
            # The login the service uses is the account whose password the secret holds.
            user = svc["environment"]["PEAKLINE_MQTT_USERNAME"]
            path = Path(files[secret])
            owner = path.parent.name if path.name == "mqtt.password" else path.stem
            assert user == owner, f"{name}: logs in as {user} with {owner}'s password"
            # Service logins live only in the file the service listener loads (issue #19).
            kind = "passwd-services" if user.startswith("svc-") else "passwd"
            passwd = (provisioned / "mosquitto" / kind).read_text()
            assert f"\n{user}:" in f"\n{passwd}"
    edge = services["edge"]
    agent = _option(edge, "agent", "PEAKLINE_AGENT")
    assert agent in {a["id"] for a in _load("agents.yaml")["agents"]}
    # The trial agents.yaml mounted over the config: same agents, the compose broker, the
    # login and password file the edge service is given.
    trial = AgentsFile.model_validate(yaml.safe_load((DEPLOY / "trial/agents.yaml").read_text()))
    assert {a.id for a in trial.agents} == {a["id"] for a in _load("agents.yaml")["agents"]}
    uplink = next(a.uplink for a in trial.agents if a.id == agent)
    assert uplink.broker == "mqtt://mosquitto:1883" and uplink.username == agent
    assert uplink.password_file == f"/run/secrets/{edge['secrets'][0]}"


def test_trial_simulators_listen_where_the_trial_edge_polls(
    services: dict[str, dict[str, Any]],
) -> None:
    from firmware_sim.scenario import MqttListen, Scenario, TcpListen

    mounts = {t: s for s, t in _mounts(services["firmware-sim"])}
    scenario_in_container = services["firmware-sim"]["command"][1]
    folder = str(Path(scenario_in_container).parent)
    scenario = Scenario.from_yaml(REPO / mounts[folder] / Path(scenario_in_container).name)
    devices = {d["id"]: d for d in _load("devices.yaml")["devices"]}
    agent = _option(services["edge"], "agent", "PEAKLINE_AGENT")
    polled = {i for i, d in devices.items() if d["agent"] == agent}
    simulated = 0
    for spec in scenario.devices:
        assert spec.id in polled, f"{spec.id} is simulated but {agent} does not poll it"
        conn = devices[spec.id]["connection"]
        if isinstance(spec.listen, TcpListen):
            assert (spec.listen.port, spec.listen.unit_id) == (conn["port"], conn["unit_id"])
            simulated += 1
    assert simulated >= 3
    # The MQTT sensors publish to the compose broker as the sensor account whose topic they use,
    # with that account's password file (provision's ACL lets it write its own topic only).
    sim = services["firmware-sim"]
    assert "--mqtt=mqtt://mosquitto:1883" in sim["command"]
    assert "--start=now" in sim["command"]  # sensor timestamps current, not the scenario's date
    mqtt_sensors = [s for s in scenario.devices if isinstance(s.listen, MqttListen)]
    env = sim["environment"]
    assert [f"sensor-{s.id}" for s in mqtt_sensors] == [env["PEAKLINE_MQTT_USERNAME"]]
    assert env["PEAKLINE_MQTT_PASSWORD_FILE"] == f"/run/secrets/{sim['secrets'][0]}"
    assert mqtt_sensors[0].listen.topic == devices[mqtt_sensors[0].id]["connection"]["topic"]
    healthcheck = " ".join(services["firmware-sim"]["healthcheck"]["test"])
    assert str(devices[scenario.devices[0].id]["connection"]["port"]) in healthcheck


def test_healthchecks_and_dependencies(services: dict[str, dict[str, Any]]) -> None:
    for name, svc in services.items():
        assert "test" in svc.get("healthcheck", {}), f"{name} has no healthcheck"
        for dep, cond in (svc.get("depends_on") or {}).items():
            assert dep in services and cond == {"condition": "service_healthy"}, (name, dep)
    host_ports = [p.split(":")[-2] for s in services.values() for p in s.get("ports", [])]
    assert len(host_ports) == len(set(host_ports))


def test_broker_config_matches_the_mounts(
    services: dict[str, dict[str, Any]], provisioned: Path
) -> None:
    conf = (DEPLOY / "mosquitto/mosquitto.conf").read_text()
    mounts = {t: s for s, t in _mounts(services["mosquitto"])}
    included = re.findall(r"^include_dir (\S+)", conf, re.M)
    assert (
        included == ["/mosquitto/secrets"] and mounts[included[0]] == "./deploy/secrets/mosquitto"
    )
    conf += (provisioned / "mosquitto/listeners.conf").read_text()
    assert "allow_anonymous false" in conf
    listeners = set(re.findall(r"^listener (\d+)", conf, re.M))
    published = {p.split(":")[-1] for p in services["mosquitto"]["ports"]}
    assert published <= listeners
    assert "1884" in listeners and "1884" not in published  # the service listener stays inside
    for path in re.findall(
        r"^(?:password_file|acl_file|cafile|certfile|keyfile) (\S+)", conf, re.M
    ):
        folder = str(Path(path).parent)
        assert folder in mounts, f"{path} is not mounted"
        if mounts[folder] == "./deploy/secrets/mosquitto":
            assert (provisioned / "mosquitto" / Path(path).name).is_file()
    urls = [s.get("environment", {}).get("PEAKLINE_BROKER") for s in services.values()]
    assert {u for u in urls if u} == {"mqtt://mosquitto:1884"}  # the API: a service


def test_influx_v1_mapping_serves_the_store_urls(services: dict[str, dict[str, Any]]) -> None:
    script = (DEPLOY / "influxdb/init/10-peakline-v1.sh").read_text()
    env = services["influxdb"]["environment"]
    for name in set(re.findall(r"\$\{?([A-Z][A-Z0-9_]+)", script)):
        assert name in env, f"init script uses ${name}, not set for influxdb"
    logins = set(re.findall(r"--username (\S+)", script))
    for name in ("ingest", "api"):
        url = _option(services[name], "store", "PEAKLINE_STORE")
        match = re.match(r"http://influxdb:8086\?db=(\w+)&token=([\w-]+):", url)
        assert match, url
        assert match[1] == env["PEAKLINE_INFLUX_DB"] and match[2] in logins
    datasource = yaml.safe_load(
        (DEPLOY / "grafana/provisioning/datasources/peakline.yaml").read_text()
    )
    header = datasource["datasources"][0]["secureJsonData"]["httpHeaderValue1"]
    assert header.split()[1].split(":")[0] in logins


def test_grafana_dashboards_query_the_storage_schema(services: dict[str, dict[str, Any]]) -> None:
    prov = DEPLOY / "grafana/provisioning"
    datasource = yaml.safe_load((prov / "datasources/peakline.yaml").read_text())["datasources"][0]
    provider = yaml.safe_load((prov / "dashboards/peakline.yaml").read_text())["providers"][0]
    mounts = {t: s for s, t in _mounts(services["grafana"])}
    folder = REPO / mounts[provider["options"]["path"]]
    boards = [json.loads(p.read_text()) for p in sorted(folder.glob("*.json"))]
    assert {b["title"] for b in boards} >= {
        "peakline - city overview",
        "peakline - site energy and emissions",
    }
    assert len({b["uid"] for b in boards}) == len(boards)
    for board in boards:
        for panel in board["panels"]:
            assert panel["datasource"]["uid"] == datasource["uid"]
            for target in panel["targets"]:
                query = target["query"]
                measurement = re.search(r'FROM "(\w+)"', query)[1]  # type: ignore[index]
                assert measurement in MEASUREMENTS, query
                tags = (
                    re.findall(r'"(\w+)"', query.split("GROUP BY")[1])
                    if "GROUP BY" in query
                    else []
                )
                assert set(tags) <= set(SERIES_TAGS[measurement]), query


# --- the scale profile: three ingest workers, two API replicas, nginx, PostgreSQL ----------


def _scale(services: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The services `docker compose --profile scale up` runs: the default ones and the scale
    profile's (not the trial's)."""
    return {n: s for n, s in services.items() if set(s.get("profiles", ["scale"])) == {"scale"}}


def _options(svc: dict[str, Any]) -> dict[str, str]:
    return dict(a.removeprefix("--").split("=", 1) for a in svc["command"] if "=" in a)


def test_scale_profile_has_the_layout(services: dict[str, dict[str, Any]]) -> None:
    scale = _scale(services)
    assert {"mosquitto", "influxdb", "postgres", "proxy"} <= set(scale)
    ingest = {n: s for n, s in scale.items() if s.get("build", {}).get("target") == "ingest"}
    api = {n: s for n, s in scale.items() if s.get("build", {}).get("target") == "api"}
    assert len(ingest) == 3 and len(api) == 2, (sorted(ingest), sorted(api))
    assert {n for n, s in services.items() if "scale" in s.get("profiles", [])} == {
        "ingest-2", "ingest-3", "api-2", "proxy", "postgres",
    }  # fmt: skip


def test_scale_ingest_workers_share_one_subscription_group(
    services: dict[str, dict[str, Any]],
) -> None:
    """Same broker, store, config, prefix, login and group; their own client id (the broker
    keeps each worker's session) and state volume; exactly one runs the deriver."""
    workers = {
        n: s for n, s in _scale(services).items() if s.get("build", {}).get("target") == "ingest"
    }
    options = {n: _options(s) for n, s in workers.items()}
    for key in ("broker", "config", "topic-prefix", "group", "state-dir"):
        values = {o.get(key) for o in options.values()}
        assert len(values) == 1 and None not in values, (key, values)
    assert options["ingest"]["group"], "no shared subscription group"
    client_ids = [o["client-id"] for o in options.values()]
    assert len(set(client_ids)) == len(workers), client_ids
    derivers = [n for n, s in workers.items() if "--no-derive" not in s["command"]]
    assert derivers == ["ingest"], derivers
    for key in ("entrypoint", "environment", "secrets", "depends_on", "healthcheck"):
        assert all(s[key] == workers["ingest"][key] for s in workers.values()), key
    state = {
        n: dict((t, src) for src, t in _mounts(s))["/var/lib/peakline"] for n, s in workers.items()
    }
    assert len(set(state.values())) == len(workers), f"workers share a state volume: {state}"
    # the health port is the one each worker's healthcheck asks
    for n, s in workers.items():
        assert f":{options[n]['health-port']}/readyz" in " ".join(s["healthcheck"]["test"]), n


def test_scale_api_replicas_are_the_same_service_on_one_state(
    services: dict[str, dict[str, Any]],
) -> None:
    replicas = {
        n: s for n, s in _scale(services).items() if s.get("build", {}).get("target") == "api"
    }
    first = replicas["api"]
    for name, svc in replicas.items():
        for key in ("build", "environment", "secrets", "healthcheck"):
            assert svc[key] == first[key], (name, key)
        # the state files (keys, ledger, retrofits, alerts) on one volume for every replica
        mounts = {t: src for src, t in _mounts(svc)}
        keys_dir = str(Path(svc["environment"]["PEAKLINE_API_KEYS_DB"]).parent)
        assert mounts[keys_dir] == "api-data", name
        # ... or on PostgreSQL, when .env names it (the same variable for every replica)
        assert svc["environment"]["PEAKLINE_STATE_URL"] == "${PEAKLINE_STATE_URL:-}", name
    assert [n for n, s in replicas.items() if s.get("ports")] == ["api"]  # the rest: proxy only
    assert services["postgres"]["healthcheck"] and "postgres" in services["api-2"]["depends_on"]


def test_scale_proxy_upstream_is_every_api_replica(services: dict[str, dict[str, Any]]) -> None:
    proxy = services["proxy"]
    mounts = {t: src for src, t in _mounts(proxy)}
    conf_path = REPO / mounts["/etc/nginx/nginx.conf"]
    conf = conf_path.read_text()
    [upstream] = re.findall(r"upstream (\w+) \{([^}]*)\}", conf)
    name, body = upstream
    replicas = {n for n, s in _scale(services).items() if s.get("build", {}).get("target") == "api"}
    api_port = re.search(
        r"^EXPOSE (\d+)", _stages((DEPLOY / "Dockerfile").read_text())["api"], re.M
    )
    assert api_port
    assert set(re.findall(r"^\s*server (\S+)", body, re.M)) == {
        f"{n}:{api_port[1]}" for n in replicas
    }
    assert re.findall(r"proxy_pass http://(\w+);", conf) and set(
        re.findall(r"proxy_pass http://(\w+);", conf)
    ) == {name}
    [listen] = re.findall(r"^\s*listen (\d+);", conf, re.M)
    assert {p.split(":")[-1] for p in proxy["ports"]} == {listen}
    assert listen in " ".join(proxy["healthcheck"]["test"])
    assert set(proxy["depends_on"]) == replicas


def test_scale_proxy_config_is_valid_nginx(
    services: dict[str, dict[str, Any]], tmp_path: Path
) -> None:
    """`nginx -t` on the committed config, the compose service names pointed at loopback."""
    from peakline_testing.servers import find_binary

    conf = (DEPLOY / "nginx/nginx.conf").read_text()
    conf = re.sub(r"server ([\w-]+):(\d+)", r"server 127.0.0.1:\2", conf)
    conf = conf.replace("/tmp/nginx.pid", str(tmp_path / "nginx.pid"))
    for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"):
        conf = conf.replace("http {", f"http {{\n  {kind}_temp_path {tmp_path / kind};", 1)
    (tmp_path / "nginx.conf").write_text(conf)
    done = subprocess.run(
        [find_binary("nginx", "/usr/sbin"), "-t", "-p", f"{tmp_path}/", "-e", "stderr",
         "-c", str(tmp_path / "nginx.conf")],
        capture_output=True, text=True,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
