// Programme benchmark: cities (or districts) side by side with the same definitions, and CSV.
"use strict";

(() => {
  const { api, key, setupKeyForm, showError, fmt, figure, percent, text, t, dateTime, lang, ready, cityNames } = peakline;
  const level = document.getElementById("level");
  const period = document.getElementById("period");
  const query = () => `level=${encodeURIComponent(level.value)}&start=${encodeURIComponent(period.value)}`;

  async function refresh() {
    try {
      const [report, air, cities] = await Promise.all([
        api("/api/v1/programme/benchmark?" + query()),
        api("/api/v1/programme/air-quality?start=" + encodeURIComponent(period.value)),
        cityNames(),
      ]);
      render(report, cities);
      renderAir(air.items, cities);
      showError("");
    } catch (e) {
      showError(e.status === 401 ? t("error.need_key_programme") : e.message);
    }
  }

  // A verdict only where there is something to judge: no target, or no metered energy in the
  // period, says so instead of "on track".
  // The verdict is the overview's like-for-like judgment over the period's complete days; a
  // city's cap against a few metered buildings is no verdict, so without one the reason shows.
  function trajectory(tr, metered) {
    if (!tr) return t("empty.no_target");
    if (!metered) return t("empty.no_meter_data_period");
    if (tr.on_track === null) return t(`programme.reason_${tr.reason}`);
    const verdict = t(tr.on_track ? "programme.on_track" : "programme.over_cap", { year: tr.year, peak: tr.peak_year });
    return `${verdict} · ${t(`programme.basis_${tr.basis}`)}`;
  }

  function render(report, cities) {
    const body = document.querySelector("#benchmark-table tbody");
    body.replaceChildren(...report.items.map((it) => {
      const tr = document.createElement("tr");
      tr.dataset.id = it.id;
      const i = it.intensity;
      // Zero metered energy over a whole period is missing data, not a city that used none.
      const metered = it.energy_kwh > 0;
      const shown = (v) => (metered ? v : null);
      const trend = text("td", it.trend === null || !metered ? t("empty.no_previous") : percent(it.trend, 1), "num trend");
      if (it.trend === null || !metered) trend.classList.add("empty");
      const savings = text("td", it.retrofits.counted
        ? `${fmt(it.retrofits.avoided_kwh, 0)} ± ${fmt(it.retrofits.uncertainty_kwh, 0)}`
        : t("empty.no_retrofits"), it.retrofits.counted ? "num retrofits" : "num retrofits empty");
      if (it.retrofits.counted) savings.dataset.value = String(it.retrofits.avoided_kwh);
      const factors = it.factors.length
        ? it.factors.map((f) => `${f.set_id} ${f.region} ${f.year}: ${fmt(f.kgco2e_per_kwh, 3)}`).join("; ")
        : t("empty.no_factor");
      const traj = text("td", trajectory(it.trajectory, metered), "trajectory");
      if (!it.trajectory || !metered || it.trajectory.on_track === null) traj.classList.add("empty");
      const energy = figure(shown(it.energy_kwh), 0, "num energy");
      if (!metered) energy.textContent = t("empty.no_meter_data");
      tr.append(
        text("td", it.name), text("td", cities.get(it.city) ?? it.city), text("td", String(it.sites), "num"),
        energy,
        figure(shown(it.emissions_kgco2e), 0, "num emissions"),
        figure(shown(it.reported_kgco2e), 0, "num reported"),
        figure(shown(i.kgco2e_per_capita), 4, "num"),
        figure(shown(i.kgco2e_per_m2), 2, "num"),
        figure(shown(i.kwh_per_m2), 1, "num"),
        figure(shown(i.kgco2e_per_kwh), 3, "num"),
        trend, traj, savings, text("td", factors, "muted"),
      );
      return tr;
    }));
    document.getElementById("definitions").textContent =
      t("programme.definitions", { start: dateTime(report.start), end: dateTime(report.end) });
  }

  function renderAir(items, cities) {
    const pct = (p) => (p ? percent(p.share_above, 1) : t("empty.no_data"));
    document.querySelector("#air-table tbody").replaceChildren(...items.map((it) => {
      const tr = document.createElement("tr");
      tr.dataset.id = it.district;
      const co2 = it.points.co2, pm = it.points.pm25;
      tr.append(
        text("td", it.name), text("td", cities.get(it.city) ?? it.city), text("td", it.sensors.join(", ") || t("air.no_sensors")),
        figure(co2 && co2.mean, 0, "num co2"), figure(co2 && co2.p95, 0, "num"),
        text("td", pct(co2), co2 ? "num" : "num empty"), figure(pm && pm.mean, 1, "num"),
        text("td", pct(pm), pm ? "num" : "num empty"),
      );
      return tr;
    }));
  }

  async function downloadCsv() {
    try {
      const resp = await fetch("/api/v1/programme/benchmark.csv?" + query(),
        { headers: { Authorization: "Bearer " + key(), "Accept-Language": lang } });
      if (!resp.ok) throw new Error(`${resp.status}: ${t("error.csv_failed")}`);
      const url = URL.createObjectURL(await resp.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = `peakline-benchmark-${level.value}.csv`;
      a.click();
      URL.revokeObjectURL(url);
    } catch (e) {
      showError(e.message);
    }
  }

  level.addEventListener("change", refresh);
  period.addEventListener("change", refresh);
  document.getElementById("csv").addEventListener("click", downloadCsv);
  ready.then(() => {
    setupKeyForm(refresh);
    refresh();
  }, (e) => showError(e.message));
})();
