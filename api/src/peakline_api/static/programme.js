// Programme benchmark: cities (or districts) side by side with the same definitions, and CSV.
"use strict";

(() => {
  const { api, key, setupKeyForm, showError, fmt, text } = peakline;
  const level = document.getElementById("level");
  const period = document.getElementById("period");
  const query = () => `level=${encodeURIComponent(level.value)}&start=${encodeURIComponent(period.value)}`;

  async function refresh() {
    try {
      const [report, air] = await Promise.all([
        api("/api/v1/programme/benchmark?" + query()),
        api("/api/v1/programme/air-quality?start=" + encodeURIComponent(period.value)),
      ]);
      render(report);
      renderAir(air.items);
      showError("");
    } catch (e) {
      showError(e.status === 401 ? "Enter an API key to see the programme." : e.message);
    }
  }

  function trajectory(t) {
    if (!t) return "–";
    const state = t.on_track ? "on track" : "over cap";
    return `${t.year}: ${state} (peak ${t.peak_year})`;
  }

  function render(report) {
    const body = document.querySelector("#benchmark-table tbody");
    body.replaceChildren(...report.items.map((it) => {
      const tr = document.createElement("tr");
      tr.dataset.id = it.id;
      const i = it.intensity;
      const trend = it.trend === null ? "–" : (it.trend * 100).toFixed(1) + " %";
      const savings = it.retrofits.counted
        ? `${fmt(it.retrofits.avoided_kwh, 0)} ± ${fmt(it.retrofits.uncertainty_kwh, 0)}`
        : "–";
      const factors = it.factors.map((f) => `${f.set_id} ${f.region} ${f.year}: ${f.kgco2e_per_kwh.toFixed(3)}`).join("; ");
      tr.append(
        text("td", it.name), text("td", it.city), text("td", String(it.sites), "num"),
        text("td", fmt(it.energy_kwh, 0), "num energy"),
        text("td", fmt(it.emissions_kgco2e, 0), "num emissions"),
        text("td", fmt(i.kgco2e_per_capita, 4), "num"),
        text("td", fmt(i.kgco2e_per_m2, 2), "num"),
        text("td", fmt(i.kwh_per_m2, 1), "num"),
        text("td", fmt(i.kgco2e_per_kwh, 3), "num"),
        text("td", trend, "num trend"), text("td", trajectory(it.trajectory)),
        text("td", savings, "num"), text("td", factors, "muted"),
      );
      return tr;
    }));
    document.getElementById("definitions").textContent =
      `${report.start} – ${report.end}. Emissions: ${report.definitions.emissions_kgco2e}.`;
  }

  function renderAir(items) {
    const pct = (p) => (p ? (p.share_above * 100).toFixed(1) + " %" : "–");
    document.querySelector("#air-table tbody").replaceChildren(...items.map((it) => {
      const tr = document.createElement("tr");
      tr.dataset.id = it.district;
      const co2 = it.points.co2, pm = it.points.pm25;
      tr.append(
        text("td", it.name), text("td", it.city), text("td", it.sensors.join(", ") || "–"),
        text("td", fmt(co2 && co2.mean, 0), "num co2"), text("td", fmt(co2 && co2.p95, 0), "num"),
        text("td", pct(co2), "num"), text("td", fmt(pm && pm.mean, 1), "num"),
        text("td", pct(pm), "num"),
      );
      return tr;
    }));
  }

  async function downloadCsv() {
    try {
      const resp = await fetch("/api/v1/programme/benchmark.csv?" + query(),
        { headers: { Authorization: "Bearer " + key() } });
      if (!resp.ok) throw new Error(`${resp.status}: CSV export failed`);
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

  setupKeyForm(refresh);
  level.addEventListener("change", refresh);
  period.addEventListener("change", refresh);
  document.getElementById("csv").addEventListener("click", downloadCsv);
  refresh();
})();
