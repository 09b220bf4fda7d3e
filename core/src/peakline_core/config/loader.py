"""Load and validate a configuration directory.

    programme.yaml            Programme: cities and districts
    sites.yaml                sites: [Site]
    devices.yaml              devices: [Device]
    agents.yaml               agents: [Agent]
    profiles/*.yaml           one device profile (register map) per file
    emission-factors/*.yaml   one emission factor set per file
    inventory.yaml            optional: fuel meters, heat networks, refrigerants, data centres
    alerts.yaml               optional: alert rules and notification channels

Every problem found is collected (not only the first) and raised as one ConfigError naming the
file, the path inside it and what was expected.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from peakline_core.config.alerts import AlertsFile
from peakline_core.config.inventory import InventoryFile
from peakline_core.config.platform import Agent, Device, Programme, Site
from peakline_core.config.profiles import (
    BacnetProfile,
    DeviceProfile,
    ModbusProfile,
    MqttProfile,
)
from peakline_core.errors import ConfigError

if TYPE_CHECKING:
    from peakline_core.emissions.book import FactorBook
    from peakline_core.emissions.factors import EmissionFactorSet

Issue = tuple[str, str, str]
M = TypeVar("M", bound=BaseModel)


class SitesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    sites: list[Site] = Field(min_length=1)


class DevicesFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    devices: list[Device] = Field(default_factory=list)


class AgentsFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    agents: list[Agent] = Field(default_factory=list)


PROFILE_ADAPTER: TypeAdapter[ModbusProfile | MqttProfile | BacnetProfile] = TypeAdapter(
    DeviceProfile
)


@dataclass(frozen=True)
class PlatformConfig:
    """A validated configuration directory, indexed by id."""

    root: Path
    programme: Programme
    sites: dict[str, Site]
    devices: dict[str, Device]
    agents: dict[str, Agent]
    profiles: dict[str, ModbusProfile | MqttProfile | BacnetProfile]
    factor_sets: dict[str, EmissionFactorSet] = field(default_factory=dict)
    inventory: InventoryFile = field(default_factory=InventoryFile)
    alerts: AlertsFile = field(default_factory=AlertsFile)

    def devices_of(self, agent: str) -> list[Device]:
        return [d for d in self.devices.values() if d.agent == agent and d.enabled]

    def profile_of(self, device: Device) -> ModbusProfile | MqttProfile | BacnetProfile:
        return self.profiles[device.profile]

    def sites_in(self, city: str) -> list[Site]:
        return [s for s in self.sites.values() if s.city == city]

    def factor_book(self) -> FactorBook:
        """The factor sets as one book, combining gases with the programme's GWP set."""
        from peakline_core.emissions.book import FactorBook

        return FactorBook(
            self.factor_sets.values(),
            gwp=self.programme.gwp,
            fuel_method=self.programme.fuel_method,
        )


def format_loc(loc: Iterable[int | str]) -> str:
    """Render a pydantic error location as `devices[3].connection.port`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


_VARIANT_TAGS = (
    "modbus",
    "mqtt",
    "modbus-tcp",
    "modbus-rtu",
    "modbus-rtu-over-tcp",
    # alerts.yaml: rule conditions and channels
    "threshold",
    "no_data",
    "anomaly",
    "command",
    "daily_energy",
    "webhook",
    "wecom",
    "dingtalk",
    "feishu",
    "email",
)


def _issues_from(file: str, exc: ValidationError) -> Iterator[Issue]:
    for err in exc.errors(include_url=False):
        loc = [p for p in err["loc"] if p not in _VARIANT_TAGS]
        got = err.get("input")
        shown = "" if isinstance(got, dict | list) or got is None else f" (got {got!r})"
        yield file, format_loc(loc), err["msg"] + shown


def _read_yaml(path: Path, rel: str, issues: list[Issue]) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        issues.append((rel, "", f"cannot read: {exc.strerror}"))
        return None
    except UnicodeDecodeError as exc:
        issues.append((rel, f"byte {exc.start + 1}", "not UTF-8 text"))  # 1-based
        return None
    try:
        return yaml.safe_load(text)
    except RecursionError:  # PyYAML composes nested collections recursively
        issues.append((rel, "", "not valid YAML: nested too deeply"))
        return None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        issues.append((rel, where, f"not valid YAML: {problem}"))
        return None


def _validate(model: type[M], data: Any, rel: str, issues: list[Issue]) -> M | None:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        issues.extend(_issues_from(rel, exc))
        return None


def _unique(items: list[Any], attr: str, rel: str, list_name: str, issues: list[Issue]) -> None:
    seen: dict[str, int] = {}
    for i, item in enumerate(items):
        key = getattr(item, attr)
        if key in seen:
            issues.append((rel, f"{list_name}[{i}].{attr}", f"duplicate id {key!r}"))
        seen[key] = i


def load_config(root: str | Path) -> PlatformConfig:
    """Load and cross-check a configuration directory; raises ConfigError listing every issue."""
    root = Path(root)
    issues: list[Issue] = []
    if not root.is_dir():
        raise ConfigError([(str(root), "", "not a directory")])

    def load(name: str, model: type[M]) -> M | None:
        path = root / name
        if not path.exists():
            issues.append((name, "", "missing file"))
            return None
        data = _read_yaml(path, name, issues)
        return None if data is None and issues else _validate(model, data, name, issues)

    programme = load("programme.yaml", Programme)
    sites_file = load("sites.yaml", SitesFile)
    devices_file = (
        load("devices.yaml", DevicesFile) if (root / "devices.yaml").exists() else DevicesFile()
    )
    agents_file = (
        load("agents.yaml", AgentsFile) if (root / "agents.yaml").exists() else AgentsFile()
    )
    inventory = (
        load("inventory.yaml", InventoryFile)
        if (root / "inventory.yaml").exists()
        else InventoryFile()
    )
    alerts = load("alerts.yaml", AlertsFile) if (root / "alerts.yaml").exists() else AlertsFile()

    profiles: dict[str, ModbusProfile | MqttProfile | BacnetProfile] = {}
    for path in sorted((root / "profiles").glob("*.y*ml")):
        rel = f"profiles/{path.name}"
        data = _read_yaml(path, rel, issues)
        if data is None:
            continue
        try:
            profile = PROFILE_ADAPTER.validate_python(data)
        except ValidationError as exc:
            issues.extend(_issues_from(rel, exc))
            continue
        if profile.name in profiles:
            issues.append((rel, "name", f"duplicate profile name {profile.name!r}"))
        profiles[profile.name] = profile

    # Imported here: emissions models import config models, so a top-level import would cycle.
    from peakline_core.emissions.factors import EmissionFactorSet

    factor_sets: dict[str, EmissionFactorSet] = {}
    for path in sorted((root / "emission-factors").glob("*.y*ml")):
        rel = f"emission-factors/{path.name}"
        data = _read_yaml(path, rel, issues)
        factor_set = None if data is None else _validate(EmissionFactorSet, data, rel, issues)
        if factor_set is not None:
            factor_sets[factor_set.id] = factor_set

    if (
        programme is None
        or sites_file is None
        or devices_file is None
        or agents_file is None
        or inventory is None
        or alerts is None
    ):
        raise ConfigError(issues)

    _cross_check(programme, sites_file, devices_file, agents_file, profiles, issues)
    _check_inventory(inventory, sites_file, devices_file, factor_sets, issues)
    _check_alerts(
        alerts,
        programme,
        {s.id: s for s in sites_file.sites},
        {d.id: d for d in devices_file.devices},
        profiles,
        {a.id for a in agents_file.agents},
        issues,
    )
    if issues:
        raise ConfigError(issues)
    return PlatformConfig(
        root=root,
        programme=programme,
        sites={s.id: s for s in sites_file.sites},
        devices={d.id: d for d in devices_file.devices},
        agents={a.id: a for a in agents_file.agents},
        profiles=profiles,
        factor_sets=factor_sets,
        inventory=inventory,
        alerts=alerts,
    )


def _cross_check(
    programme: Programme,
    sites_file: SitesFile,
    devices_file: DevicesFile,
    agents_file: AgentsFile,
    profiles: dict[str, ModbusProfile | MqttProfile | BacnetProfile],
    issues: list[Issue],
) -> None:
    _unique(programme.cities, "id", "programme.yaml", "cities", issues)
    _unique(programme.districts, "id", "programme.yaml", "districts", issues)
    _unique(sites_file.sites, "id", "sites.yaml", "sites", issues)
    _unique(devices_file.devices, "id", "devices.yaml", "devices", issues)
    _unique(agents_file.agents, "id", "agents.yaml", "agents", issues)
    cities = {c.id for c in programme.cities}
    districts = {d.id: d.city for d in programme.districts}
    for i, s in enumerate(sites_file.sites):
        if s.city not in cities:
            issues.append(("sites.yaml", f"sites[{i}].city", f"unknown city {s.city!r}"))
        elif districts.get(s.district) != s.city:
            issues.append(
                ("sites.yaml", f"sites[{i}].district", f"no district {s.district!r} in {s.city!r}")
            )
    sites = {s.id for s in sites_file.sites}
    agents = {a.id for a in agents_file.agents}
    for i, a in enumerate(agents_file.agents):
        if a.site is not None and a.site not in sites:
            issues.append(("agents.yaml", f"agents[{i}].site", f"unknown site {a.site!r}"))
    endpoints: dict[tuple[str, ...], int] = {}
    for i, d in enumerate(devices_file.devices):
        where = f"devices[{i}]"
        if d.site not in sites:
            issues.append(("devices.yaml", f"{where}.site", f"unknown site {d.site!r}"))
        if d.agent not in agents:
            issues.append(("devices.yaml", f"{where}.agent", f"unknown agent {d.agent!r}"))
        profile = profiles.get(d.profile)
        if profile is None:
            issues.append(("devices.yaml", f"{where}.profile", f"unknown profile {d.profile!r}"))
            continue
        wants = d.connection.driver if d.connection.driver in ("mqtt", "bacnet") else "modbus"
        if profile.protocol != wants:
            issues.append(
                (
                    "devices.yaml",
                    f"{where}.connection.driver",
                    f"driver {d.connection.driver!r} cannot use {profile.protocol} profile "
                    f"{profile.name!r}",
                )
            )
        conn = d.connection
        key: tuple[str, ...] | None = None
        if conn.driver == "modbus-tcp":
            key = ("tcp", conn.host, str(conn.port), str(conn.unit_id))
        elif conn.driver == "modbus-rtu":
            key = ("rtu", conn.port, str(conn.unit_id))
        elif conn.driver == "modbus-rtu-over-tcp":
            key = ("rtu-tcp", conn.host, str(conn.port), str(conn.unit_id))
        elif conn.driver == "bacnet":
            key = ("bacnet", conn.address, str(conn.device_instance))
        if key is not None:
            if key in endpoints:
                issues.append(
                    (
                        "devices.yaml",
                        f"{where}.connection",
                        f"same bus address as devices[{endpoints[key]}] ({'/'.join(key)})",
                    )
                )
            endpoints[key] = i
    _check_flexibility(sites_file, devices_file, profiles, issues)


def _check_flexibility(
    sites_file: SitesFile,
    devices_file: DevicesFile,
    profiles: dict[str, ModbusProfile | MqttProfile | BacnetProfile],
    issues: list[Issue],
) -> None:
    """A site's meter and flexibility (control) name its own devices and points;
    flexibility points must be writable."""
    devices = {d.id: d for d in devices_file.devices}
    for i, s in enumerate(sites_file.sites):
        if s.meter is not None:
            meter = devices.get(s.meter)
            if meter is None or meter.site != s.id:
                issues.append(("sites.yaml", f"sites[{i}].meter", f"no device {s.meter!r} here"))
        for j, flex in enumerate(s.flexibility):
            where = f"sites[{i}].flexibility[{j}]"
            device = devices.get(flex.device)
            if device is None or device.site != s.id:
                issues.append(("sites.yaml", f"{where}.device", f"no device {flex.device!r} here"))
                continue
            profile = profiles.get(device.profile)
            if not isinstance(profile, ModbusProfile):
                continue  # the device check reports the profile
            point = next((p for p in profile.points if p.name == flex.point), None)
            if point is None or point.writable is None or device.read_only or profile.read_only:
                issues.append(
                    ("sites.yaml", f"{where}.point", f"{flex.device}.{flex.point} is not writable")
                )


def _check_inventory(
    inventory: InventoryFile,
    sites_file: SitesFile,
    devices_file: DevicesFile,
    factor_sets: dict[str, EmissionFactorSet],
    issues: list[Issue],
) -> None:
    """inventory.yaml names known sites, devices, networks and fuels; ids are unique."""
    rel = "inventory.yaml"
    sites = {s.id for s in sites_file.sites}
    devices = {d.id for d in devices_file.devices}
    fuels = {f.fuel for fs in factor_sets.values() for f in fs.fuels}
    networks = {n.id for n in inventory.heat_networks}
    for list_name in ("fuel_meters", "heat_networks", "heat_meters", "refrigerant_assets"):
        _unique(getattr(inventory, list_name), "id", rel, list_name, issues)
    _unique(inventory.data_centres, "id", rel, "data_centres", issues)

    def site(where: str, value: str) -> None:
        if value not in sites:
            issues.append((rel, f"{where}.site", f"unknown site {value!r}"))

    def device(where: str, value: str | None) -> None:
        if value is not None and value not in devices:
            issues.append((rel, where, f"unknown device {value!r}"))

    for i, m in enumerate(inventory.fuel_meters):
        where = f"fuel_meters[{i}]"
        site(where, m.site)
        device(f"{where}.device", m.device)
        if m.fuel not in fuels:
            issues.append((rel, f"{where}.fuel", f"no factor set has fuel {m.fuel!r}"))
    for i, h in enumerate(inventory.heat_meters):
        where = f"heat_meters[{i}]"
        site(where, h.site)
        device(f"{where}.device", h.device)
        if h.network not in networks:
            issues.append((rel, f"{where}.network", f"unknown heat network {h.network!r}"))
    assets = {a.id for a in inventory.refrigerant_assets}
    for i, a in enumerate(inventory.refrigerant_assets):
        where = f"refrigerant_assets[{i}]"
        site(where, a.site)
        device(f"{where}.device", a.device)
        if a.replaces is not None and a.replaces not in assets:
            issues.append((rel, f"{where}.replaces", f"unknown asset {a.replaces!r}"))
    for i, dc in enumerate(inventory.data_centres):
        where = f"data_centres[{i}]"
        site(where, dc.site)
        for j, d in enumerate(dc.facility_meters):
            device(f"{where}.facility_meters[{j}]", d)
        for j, d in enumerate(dc.it_meters):
            device(f"{where}.it_meters[{j}]", d)
        device(f"{where}.water_meter", dc.water_meter)


def check_alerts(alerts: AlertsFile, config: PlatformConfig) -> list[Issue]:
    """alerts.yaml's cross-checks against a loaded configuration: the one validator that
    `peakline config check` and the API's rule endpoints both use."""
    issues: list[Issue] = []
    _check_alerts(
        alerts,
        config.programme,
        config.sites,
        config.devices,
        config.profiles,
        set(config.agents),
        issues,
    )
    return issues


def _check_alerts(
    alerts: AlertsFile,
    programme: Programme,
    sites: Mapping[str, Site],
    devices: Mapping[str, Device],
    profiles: Mapping[str, ModbusProfile | MqttProfile | BacnetProfile],
    agents: set[str],
    issues: list[Issue],
) -> None:
    """alerts.yaml: a rule's scope names known places that nest (device in site in district in
    city); its channels exist and belong to its city; ids are unique; a condition that needs a
    site, a city target or a gateway has it."""
    rel = "alerts.yaml"
    _unique(alerts.rules, "id", rel, "rules", issues)
    _unique(alerts.channels, "id", rel, "channels", issues)
    cities = {c.id: c for c in programme.cities}
    districts = {d.id: d.city for d in programme.districts}
    kinds = {p.kind for p in profiles.values()}
    channels = {c.id: c for c in alerts.channels}
    for i, c in enumerate(alerts.channels):
        if c.city not in cities:
            issues.append((rel, f"channels[{i}].city", f"unknown city {c.city!r}"))
    for i, r in enumerate(alerts.rules):
        where = f"rules[{i}]"
        scope = r.scope
        if scope.city not in cities:
            issues.append((rel, f"{where}.scope.city", f"unknown city {scope.city!r}"))
        if scope.district is not None and districts.get(scope.district) != scope.city:
            msg = f"no district {scope.district!r} in {scope.city!r}"
            issues.append((rel, f"{where}.scope.district", msg))
        site = sites.get(scope.site) if scope.site is not None else None
        if scope.site is not None and (site is None or site.city != scope.city):
            issues.append((rel, f"{where}.scope.site", f"no site {scope.site!r} in {scope.city!r}"))
        if site is not None and scope.district is not None and site.district != scope.district:
            issues.append(
                (rel, f"{where}.scope.site", f"site {site.id!r} is not in {scope.district!r}")
            )
        if scope.device is not None:
            device = devices.get(scope.device)
            in_city = device is not None and (
                (s := sites.get(device.site)) is not None and s.city == scope.city
            )
            if device is None or not in_city or (site is not None and device.site != site.id):
                issues.append(
                    (rel, f"{where}.scope.device", f"no device {scope.device!r} in this scope")
                )
        for j, kind in enumerate(scope.device_kinds):
            if kind not in kinds:
                known = ", ".join(sorted(kinds)) or "none"
                msg = f"no profile has kind {kind!r} (known: {known})"
                issues.append((rel, f"{where}.scope.device_kinds[{j}]", msg))
        if scope.agent is not None:
            polls_here = any(
                d.agent == scope.agent
                and (s := sites.get(d.site)) is not None
                and s.city == scope.city
                for d in devices.values()
            )
            if scope.agent not in agents or not polls_here:
                msg = f"no agent {scope.agent!r} polling devices in {scope.city!r}"
                issues.append((rel, f"{where}.scope.agent", msg))
        kind = r.condition.kind
        if kind in ("daily_energy", "daily_emissions") and scope.site is None:
            issues.append((rel, f"{where}.scope.site", f"a {kind} rule needs a site"))
        if kind == "city_month":
            narrower = [k for k in ("district", "site", "device", "agent") if getattr(scope, k)]
            if narrower or scope.device_kinds:
                what = ", ".join(narrower + (["device_kinds"] if scope.device_kinds else []))
                msg = f"a city_month rule watches a whole city (remove {what})"
                issues.append((rel, f"{where}.scope", msg))
            city = cities.get(scope.city)
            if city is not None and city.target is None:
                msg = f"city {scope.city!r} has no target in programme.yaml"
                issues.append((rel, f"{where}.condition", msg))
        if kind != "spool_backlog" and scope.agent is not None:
            msg = "only a spool_backlog rule watches an agent"
            issues.append((rel, f"{where}.scope.agent", msg))
        for j, ch in enumerate(r.channels):
            channel = channels.get(ch)
            if channel is None:
                issues.append((rel, f"{where}.channels[{j}]", f"unknown channel {ch!r}"))
            elif channel.city != scope.city:
                issues.append(
                    (
                        rel,
                        f"{where}.channels[{j}]",
                        f"channel {ch!r} belongs to city {channel.city!r}, not {scope.city!r}",
                    )
                )
