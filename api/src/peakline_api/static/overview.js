// City overview: every visible site with power, today's energy and emissions, status, anomalies.
"use strict";

(() => {
  const { api, setupKeyForm, showError, fmt, num, percent, figure, text, t, time, lang, ready } = peakline;
  let timer = null;
  let lastCities = "";

  async function refresh() {
    try {
      const [sites, cities, status] = await Promise.all([
        api("/api/v1/overview"),
        api("/api/v1/reports/emissions?level=city&start=-30d"),
        api("/api/v1/overview/cities"),
      ]);
      renderSites(sites);
      const shown = JSON.stringify([cities.items, status]);
      if (shown !== lastCities) renderCities(cities.items, status);
      lastCities = shown;
      showError("");
      document.getElementById("updated").textContent = t("overview.updated", { time: time(new Date()) });
    } catch (e) {
      showError(e.status === 401 ? t("error.need_key_programme") : e.message);
    }
  }

  function renderSites(sites) {
    const body = document.querySelector("#sites-table tbody");
    if (!sites.length) {
      const td = text("td", t("overview.no_sites"), "muted");
      td.colSpan = 9;
      const tr = document.createElement("tr");
      tr.append(td);
      body.replaceChildren(tr);
      return;
    }
    body.replaceChildren(...sites.map((s) => {
      const tr = document.createElement("tr");
      tr.dataset.site = s.id;
      const name = document.createElement("td");
      const link = text("a", s.name);
      link.href = "site.html?site=" + encodeURIComponent(s.id);
      name.append(link);
      const status = text("td", t("overview.online_of", { online: s.online, devices: s.devices }));
      status.className = "status";
      const power = figure(s.power_kw, 1, "num power");
      if (s.power_kw === null) power.textContent = t("empty.no_meter_data");
      // energy and emissions come from final readings only (the deriver waits out the
      // allowed lateness): a meter that reads but has nothing final yet today is "pending"
      const energy = figure(s.energy_today_kwh, 1, "num energy");
      const emissions = figure(s.emissions_today_kgco2e, 1, "num emissions");
      if (s.energy_today_kwh === null && s.power_kw !== null) {
        for (const cell of [energy, emissions]) {
          cell.textContent = t("empty.pending");
          cell.title = t("empty.pending_hint");
          cell.classList.add("pending");
        }
      }
      tr.append(
        name, text("td", s.city_name), text("td", s.district_name),
        power,
        energy,
        emissions,
        figure(s.carbon_intensity_g_per_kwh, 0, "num"),
        status,
        figure(s.open_anomalies, 0, "num anomalies"),
      );
      return tr;
    }));
  }

  // One card per city: last 30 days' totals, then "are we on track?" over this month's complete
  // days, judged like for like (GET /api/v1/overview/cities says how), with a small chart of
  // the judged sites' cumulative emissions against what the path allows.
  function renderCities(items, status) {
    const box = document.getElementById("cities");
    if (!items.length) { box.replaceChildren(text("p", t("overview.no_cities"), "muted")); return; }
    const byId = new Map(status.map((c) => [c.id, c]));
    box.replaceChildren(...items.map((c) => {
      const card = text("div", "", "card city");
      card.dataset.city = c.id;
      // grid import only: other flows are export, PV, fuels in their own units (m3, t), heat
      // and data-centre sub-meters, which must not be added to it
      const kwh = "import" in c.energy_kwh ? [c.energy_kwh.import] : [];
      const kg = Object.values((c.emissions_kgco2e || {}).location || {});
      const line = kwh.length || kg.length
        ? t("overview.city_30d", {
          sites: c.sites,
          kwh: fmt(kwh.reduce((a, b) => a + b, 0), 0),
          tco2e: kg.length ? fmt(kg.reduce((a, b) => a + b, 0) / 1000, 2) : t("empty.no_data"),
        })
        : t("overview.city_no_data", { sites: c.sites });
      card.append(text("strong", c.name), document.createElement("br"), text("span", line, "muted"));
      const s = byId.get(c.id);
      if (s) card.append(...statusParts(s));
      return card;
    }));
    for (const el of box.querySelectorAll(".track-chart")) drawTrack(el, byId.get(el.dataset.city));
  }

  const day = new Intl.DateTimeFormat(lang, { month: "short", day: "numeric", timeZone: "UTC" });
  const span = (s) => {
    const last = new Date(Date.parse(s.period_end) - 86400000);
    return `${day.format(new Date(s.period_start))}–${day.format(last)}`;
  };

  function statusParts(s) {
    const out = [];
    const head = text("p", "", "track");
    head.dataset.verdict = s.on_track === null ? "none" : String(s.on_track);
    const period = span(s);
    if (s.on_track === null) {
      head.append(text("span", t("overview.track_none", { period }), "badge"), " ",
        text("span", t(`overview.reason_${s.reason}`), "muted"));
    } else {
      head.append(text("span", t(s.on_track ? "overview.track_ok" : "overview.track_bad", { period }),
        `badge ${s.on_track ? "ok" : "bad"}`), " ");
      const last = (a) => (a && a.length ? a[a.length - 1] : null);
      const actual = last(s.chart.actual_kgco2e);
      const allowed = last(s.chart.allowed_kgco2e);
      head.append(text("span", s.basis === "year_on_year"
        ? t("overview.track_yoy", { change: percent(s.change), required: percent(s.required_change), sites: s.compared_sites.length })
        : t("overview.track_sites", { actual: fmt(actual / 1000, 2), allowed: fmt(allowed / 1000, 2), sites: s.compared_sites.length }),
      "muted"));
    }
    out.push(head);
    // no meter data this month: the verdict line says so; a chart of zeros and a line of
    // "no data" figures would only repeat it
    if (s.emissions_kgco2e !== null) {
      const chart = text("div", "", "track-chart");
      chart.dataset.city = s.id;
      out.push(chart);
      out.push(text("p", t("overview.city_month", {
        period,
        tco2e: fmt(s.emissions_kgco2e / 1000, 2),
        per_m2: fmt(s.kgco2e_per_m2, 2),
        per_capita: s.kgco2e_per_capita === null ? t("empty.no_data") : fmt(s.kgco2e_per_capita * 1000, 1),
      }), "muted"));
    }
    const alerts = text("p", t("overview.city_alerts", {
      anomalies: s.open_anomalies,
      incidents: s.open_incidents === null ? t("empty.alerts_off") : s.open_incidents,
      offline: s.devices_offline, devices: s.devices,
    }), "muted city-alerts");
    out.push(alerts);
    if (s.top_sites.length) {
      out.push(text("p", t("overview.top_sites", {
        sites: s.top_sites.map((x) => `${x.name} ${percent(x.share, 0)}`).join(" · "),
      }), "muted"));
    }
    return out;
  }

  // Cumulative tCO2e per day: the judged sites (or all when there is no verdict), the allowance
  // and last year's same dates when there are some. Redrawn only when the figures change.
  function drawTrack(el, s) {
    const c = s.chart;
    if (!c.t_ms.length) { el.replaceChildren(text("p", t("overview.reason_no_data"), "muted")); return; }
    const x = c.t_ms.map((ms) => ms / 1000 + 43200);
    const data = [x, c.actual_kgco2e.map((v) => v / 1000)];
    const series = [
      { label: t("chart.time"), value: (u, v) => (v === null || v === undefined ? "" : day.format(new Date(v * 1000))) },
      { label: t(s.basis ? "overview.chart_actual" : "overview.chart_all"), stroke: "#0b6bcb", width: 2, value: (u, v) => num(v, 2) ?? "" },
    ];
    if (c.allowed_kgco2e) {
      data.push(c.allowed_kgco2e.map((v) => v / 1000));
      series.push({ label: t("overview.chart_allowed"), stroke: "#1a7f37", width: 2, dash: [6, 4], value: (u, v) => num(v, 2) ?? "" });
    }
    if (c.last_year_kgco2e) {
      data.push(c.last_year_kgco2e.map((v) => v / 1000));
      series.push({ label: t("overview.chart_last_year"), stroke: "#8a8f98", width: 1, value: (u, v) => num(v, 2) ?? "" });
    }
    el.dataset.series = String(data.length - 1);
    el.replaceChildren();
    new uPlot({
      width: 320, height: 150, series,
      scales: { x: { time: true } },
      axes: [
        { incrs: [86400, 2 * 86400, 7 * 86400], values: (u, splits) => splits.map((v) => day.format(new Date(v * 1000))) },
        { size: 50, label: t("unit.tco2e", { value: "" }).trim(), values: (u, splits) => splits.map((v) => num(v, 1)) },
      ],
      legend: { live: false },
    }, data, el);
  }

  ready.then(() => {
    setupKeyForm(refresh);
    refresh();
    timer = setInterval(refresh, 10000);
  }, (e) => showError(e.message));
  window.addEventListener("beforeunload", () => clearInterval(timer));
})();
