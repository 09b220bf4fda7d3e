// Site page: live power and carbon-intensity charts, emissions vs target, anomalies, devices,
// and the command form (POST /api/v1/commands, then follow the command to its final state).
"use strict";

(() => {
  const { api, stream, setupKeyForm, showError, fmt, num, text, param, t, dateTime, ready } = peakline;
  const siteId = param("site");
  const FINAL = new Set(["applied", "rejected", "failed", "expired", "reverted"]);
  // The power chart opens on the last 24 h (with the demo's history, a full day); the server
  // picks a window that keeps it under its point limit, live readings are appended.
  const POWER_WINDOW_S = 86400;
  let powerPlot = null, powerData = [[], []], meter = null, meterSeen = null, ciPlot = null, streaming = false;

  // A domain word (device kind, status, command state...) in the chosen language; one the
  // catalogue does not know yet is shown as the API gave it.
  function label(group, value) {
    const id = `${group}.${value}`;
    const shown = t(id);
    return shown === id ? value : shown;
  }

  // A device's status as a coloured badge, its raw state in data-state.
  function badge(state) {
    const el = text("span", label("state", state), "badge state-" + state);
    el.dataset.state = state;
    return el;
  }

  // An empty chart says why instead of drawing empty axes alone.
  function noData(el, empty, message) {
    el.querySelector(".chart-empty")?.remove();
    if (empty) el.prepend(text("p", message, "chart-empty muted"));
  }

  // Enough decimals to tell the ticks apart (a 0.2 kW step shows one).
  const decimals = (splits) => (splits.length > 1
    ? Math.min(3, Math.max(0, -Math.floor(Math.log10(Math.abs(splits[1] - splits[0]) || 1)))) : 0);
  // Ticks and legend in the chosen locale (uPlot's own date formats are English).
  const tick = new Intl.DateTimeFormat(peakline.lang, { hour: "2-digit", minute: "2-digit" });

  // The x axis always shows the requested window ending now, so a chart with one point (a new
  // site, a fresh demo) is not stretched by uPlot's automatic range into years.
  function chart(el, label, data, color, windowS) {
    const opts = {
      width: el.clientWidth || 600, height: 240,
      scales: { x: { time: true, range: () => { const now = Date.now() / 1000; return [now - windowS, now]; } } },
      series: [
        { label: t("chart.time"), value: (u, v) => (v === null || v === undefined ? "" : dateTime(v * 1000)) },
        { label, stroke: color, width: 2, spanGaps: true, value: (u, v) => num(v, 1) ?? "" },
      ],
      axes: [
        { values: (u, splits) => splits.map((v) => tick.format(new Date(v * 1000))) },
        { size: 60, values: (u, splits) => splits.map((v) => num(v, decimals(splits))) },
      ],
    };
    el.replaceChildren();
    return new uPlot(opts, data, el);
  }

  const pointInfo = new Map();  // device/point -> {unit, counter}, from the devices list

  async function load() {
    if (!siteId) { showError(t("error.no_site")); return; }
    try {
      const site = await api("/api/v1/sites/" + encodeURIComponent(siteId));
      const name = document.getElementById("site-name");
      name.removeAttribute("data-i18n");
      name.textContent = site.name;
      document.querySelector("title").removeAttribute("data-i18n");
      document.title = "peakline · " + site.name;
      document.getElementById("site-meta").textContent = t("site.meta", {
        city: site.city_name, district: site.district_name, kind: label("site_kind", site.kind),
        area: fmt(site.floor_area_m2, 0), region: site.grid_region, timezone: site.timezone,
      });
      const devices = (await api(`/api/v1/devices?site=${encodeURIComponent(siteId)}&limit=1000`)).items;
      renderDevices(devices);
      renderCommandTargets(devices);
      for (const d of devices) for (const p of d.points) pointInfo.set(`${d.id}/${p.name}`, p);
      const main = devices.find((d) => ["meter", "feeder"].includes(d.kind) && d.points.some((p) => p.name === "power_total"));
      meter = main && main.id;
      meterSeen = main && main.status.last_seen;
      await Promise.all([loadPower(), loadIntensity(site.grid_region), loadEmissions(), loadDaily(site.timezone), loadAnomalies(), loadRetrofits(), loadDr()]);
      showError("");
      if (!streaming) { streaming = true; follow(); }
    } catch (e) {
      showError(e.status === 401 ? t("error.need_key") : e.message);
    }
  }

  async function loadPower() {
    const el = document.getElementById("power-chart");
    if (!meter) { el.replaceChildren(text("p", t("site.no_meter"), "muted empty")); return; }
    const r = await api(`/api/v1/series?device=${encodeURIComponent(meter)}&point=power_total&start=-24h`);
    const s = r.series[0] || { t_ms: [], values: [] };
    powerData = [s.t_ms.map((t) => t / 1000), s.values.map((v) => (v === null ? null : v / 1000))];
    powerPlot = chart(el, "kW", powerData, "#0b6bcb", POWER_WINDOW_S);
    el.dataset.points = String(powerData[0].length);
    noData(el, powerData[0].length === 0, meterSeen
      ? t("empty.no_meter_data_since", { time: dateTime(meterSeen) }) : t("empty.no_meter_data_yet"));
  }

  async function loadIntensity(region) {
    const r = await api(`/api/v1/carbon-intensity/series?region=${encodeURIComponent(region)}&start=-1d`);
    const s = r.series[0] || { t_ms: [], values: [] };
    const el = document.getElementById("ci-chart");
    ciPlot = chart(el, "gCO2e/kWh", [s.t_ms.map((ms) => ms / 1000), s.values], "#b26a00", 86400);
    noData(el, s.t_ms.length === 0, t("empty.no_intensity", { region }));
  }

  // Emissions over the last 30 days, drawn to one scale: the target when there is one, or
  // else a round figure just above the larger total, written under the bars. A site without
  // data says so rather than drawing bars for nothing.
  async function loadEmissions() {
    const r = await api(`/api/v1/reports/emissions?level=site&site=${encodeURIComponent(siteId)}&start=-30d`);
    const box = document.getElementById("emissions");
    const row = r.items[0];
    const methods = row ? Object.keys(row.emissions_kgco2e || {}) : [];
    if (!row || !methods.length) {
      box.replaceChildren(text("p", t("empty.no_emissions_since", { time: dateTime(r.start) }), "muted empty"));
      return;
    }
    const total = (m) => (row.emissions_kgco2e[m] ? Object.values(row.emissions_kgco2e[m]).reduce((a, b) => a + b, 0) : null);
    const target = row.target_kgco2e ?? null;
    const values = [["location", total("location")], ["market", total("market")]];
    const largest = Math.max(target || 0, ...values.map((v) => v[1] || 0));
    const scale = target || niceCeiling(largest);
    // Small totals in kg, larger in tonnes, so 0.00 tCO2e never hides a real figure.
    const tonnes = Math.max(scale, largest) >= 1000;
    const amount = (kg) => (tonnes ? t("unit.tco2e", { value: fmt(kg / 1000, 2) }) : t("unit.kgco2e", { value: fmt(kg, 1) }));
    const rows = values.map(([method, kg]) => {
      const line = text("div", "", "bar-row");
      line.dataset.method = method;
      if (kg === null) {
        line.append(text("span", t("scope2." + method)), text("span", t("empty.no_data"), "muted empty"), text("span", ""));
        return line;
      }
      const track = text("div", "", "bar-track");
      const bar = text("div", "", target !== null && kg > target ? "bar over" : "bar");
      bar.style.width = `${Math.min(100, scale > 0 ? (100 * kg) / scale : 0)}%`;
      bar.dataset.width = bar.style.width;
      track.append(bar);
      line.append(text("span", t("scope2." + method)), track, text("span", amount(kg), "num"));
      return line;
    });
    box.replaceChildren(...rows,
      text("p", target === null ? t("site.no_target", { scale: amount(scale) }) : t("site.target", { target: amount(target) }), "muted"),
      text("p", t("site.intensity", { per_m2: fmt(row.intensity.kgco2e_per_m2, 2), kwh_per_m2: fmt(row.intensity.kwh_per_m2, 1) }), "muted"));
  }

  // The site's last 30 local days as bars drawn to one scale per chart (zero at the bottom, the
  // largest day at the top, written under the chart): grid import with its estimated part on
  // top, and Scope 2 location- and market-based side by side. A day without a row is hatched,
  // not 0. Days are named in the site's time zone, wherever the reader is.
  let dayFormat;
  async function loadDaily(timeZone) {
    dayFormat = new Intl.DateTimeFormat(peakline.lang, { month: "short", day: "numeric", timeZone });
    const r = await api(`/api/v1/reports/daily?site=${encodeURIComponent(siteId)}&days=30`);
    const energyBox = document.getElementById("daily-energy");
    const emissionsBox = document.getElementById("daily-emissions");
    if (!r.import_kwh.some((v) => v !== null)) {
      for (const box of [energyBox, emissionsBox]) box.replaceChildren(text("p", t("site.daily_none"), "muted empty"));
      return;
    }
    const top = (values) => niceCeiling(Math.max(0, ...values.filter((v) => v !== null)));
    const kwhScale = top(r.import_kwh);
    const kgScale = top([...r.location_kgco2e, ...r.market_kgco2e]);
    const pct = (v, scale) => `${Math.max(0, Math.min(100, (100 * (v || 0)) / scale))}%`;
    const bar = (cls, v, scale) => {
      const el = text("div", "", "v " + cls);
      el.style.height = pct(v, scale);
      el.dataset.value = v === null ? "" : String(v);
      return el;
    };
    energyBox.replaceChildren(...r.t_ms.map((ms, i) => {
      const kwh = r.import_kwh[i];
      const day = text("div", "", "day energy" + (kwh === null ? " empty" : ""));
      day.dataset.t = String(ms);
      const estimated = Math.min(kwh || 0, r.estimated_kwh[i] || 0);
      day.append(bar("estimated", estimated, kwhScale), bar("measured", (kwh || 0) - estimated, kwhScale));
      day.title = `${dayFormat.format(new Date(ms))}: ${kwh === null ? t("empty.no_data") : t("unit.kwh", { value: fmt(kwh, 0) })}`;
      return day;
    }));
    emissionsBox.replaceChildren(...r.t_ms.map((ms, i) => {
      const loc = r.location_kgco2e[i];
      const mkt = r.market_kgco2e[i];
      const day = text("div", "", "day emissions" + (loc === null && mkt === null ? " empty" : ""));
      day.dataset.t = String(ms);
      day.append(bar("location", loc, kgScale), bar("market", mkt, kgScale));
      const kg = (v) => (v === null ? t("empty.no_data") : t("unit.kgco2e", { value: fmt(v, 0) }));
      day.title = `${dayFormat.format(new Date(ms))}: ${t("scope2.location")} ${kg(loc)} · ${t("scope2.market")} ${kg(mkt)}`;
      return day;
    }));
    const span = `${dayFormat.format(new Date(r.t_ms[0]))}–${dayFormat.format(new Date(r.t_ms[r.t_ms.length - 1]))}`;
    document.getElementById("daily-energy-max").textContent = t("site.daily_scale", { span, top: t("unit.kwh", { value: fmt(kwhScale, 0) }) });
    document.getElementById("daily-emissions-max").textContent = t("site.daily_scale", { span, top: t("unit.kgco2e", { value: fmt(kgScale, 0) }) });
  }

  // The site's demand-response events, newest first, each with what the meter says it shed:
  // mean baseline and metered load over the window, shed kW and kWh, avoided emissions, the
  // baseline method and the share of the window with data; and what the edge did.
  async function loadDr() {
    const r = await api("/api/v1/dr-events");
    const events = r.items.filter((e) => (e.sites || []).includes(siteId));
    const section = document.getElementById("dr");
    section.hidden = events.length === 0;
    document.getElementById("dr-list").replaceChildren(...events.map((e) => {
      const card = text("div", "", "dr-event");
      card.dataset.event = e.id;
      card.append(text("h3", t("dr.heading", {
        start: dateTime(e.start), end: dateTime(e.end), kw: fmt(e.reduce_kw ?? null, 0),
      })));
      const site = e.results && e.results.sites.find((s) => s.site === siteId);
      if (!site || site.shed_kw === null || site.shed_kwh === null) {
        card.append(text("p", t("dr.no_result"), "muted empty"));
        return card;
      }
      const shed = text("p", t("dr.shed", {
        kw: fmt(site.shed_kw, 1), kwh: fmt(site.shed_kwh, 1), baseline: fmt(site.baseline_kw, 1), actual: fmt(site.actual_kw, 1),
      }), "figure");
      shed.dataset.shedKwh = String(site.shed_kwh);
      card.append(shed);
      if (site.avoided_kg_co2e !== null) card.append(text("p", t("dr.avoided", { kg: fmt(site.avoided_kg_co2e, 1), factor: fmt(site.marginal_g_per_kwh, 0) })));
      const done = e.commands.filter((c) => c.state === "applied" || c.state === "reverted").length;
      const how = text("p", t("dr.method", {
        method: site.baseline_method, coverage: fmt(100 * site.coverage, 0), done, total: e.commands.length,
      }), "muted commands");
      how.dataset.done = String(done);
      how.dataset.total = String(e.commands.length);
      card.append(how);
      return card;
    }));
  }

  // Each retrofit of the site with what the M&V model measured since: avoided energy with its
  // uncertainty, the share of the adjusted baseline, avoided emissions, and the baseline's fit
  // (Guideline 14 statistics); or why there is no figure yet. Hidden for a site without one.
  async function loadRetrofits() {
    const list = await api(`/api/v1/retrofits?site=${encodeURIComponent(siteId)}`);
    const section = document.getElementById("retrofits");
    section.hidden = list.length === 0;
    const cards = await Promise.all(list.map(async (r) => {
      const card = text("div", "", "retrofit");
      card.dataset.retrofit = r.id;
      card.append(text("h3", t("retrofit.heading", { date: r.date, measures: r.measures.join(", ") })));
      let rep;
      try {
        rep = await api(`/api/v1/retrofits/${encodeURIComponent(r.id)}/savings`);
      } catch (e) {
        card.append(text("p", t("retrofit.no_report", { reason: e.message }), "muted empty"));
        return card;
      }
      const pct = (v) => fmt(100 * v, 1);
      const avoided = text("p", t("retrofit.avoided", {
        kwh: fmt(rep.avoided_kwh, 0), unc: fmt(rep.uncertainty_kwh, 0), conf: fmt(100 * rep.confidence, 0),
        share: pct(rep.fraction), days: rep.reporting.days_used,
      }), "figure");
      avoided.dataset.avoidedKwh = String(rep.avoided_kwh);
      card.append(avoided,
        text("p", t("retrofit.compared", {
          actual: fmt(rep.reporting.actual_kwh, 0), baseline: fmt(rep.reporting.adjusted_baseline_kwh, 0),
        })));
      if (rep.avoided_tco2e !== null) {
        const tco2e = rep.avoided_tco2e;
        const value = Math.abs(tco2e) >= 1 ? t("unit.tco2e", { value: fmt(tco2e, 2) }) : t("unit.kgco2e", { value: fmt(1000 * tco2e, 1) });
        card.append(text("p", t("retrofit.avoided_co2", { value })));
      }
      card.append(text("p", t(rep.significant ? "retrofit.significant" : "retrofit.not_significant"), "muted"));
      const b = rep.baseline;
      const fit = text("p", t("retrofit.baseline", {
        days: b.days_used, cv: pct(b.cv_rmse), nmbe: fmt(100 * b.nmbe, 2), r2: fmt(b.r2, 2),
      }) + " " + t(b.fit_for_purpose ? "retrofit.fit" : "retrofit.not_fit"), "muted baseline");
      fit.dataset.days = String(b.days_used);
      card.append(fit);
      return card;
    }));
    document.getElementById("retrofit-list").replaceChildren(...cards);
  }

  // The smallest 1, 2 or 5 times a power of ten at or above `v` (a bar scale people can read).
  function niceCeiling(v) {
    if (!(v > 0)) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    return [1, 2, 5, 10].map((m) => m * p).find((x) => x >= v);
  }

  async function loadAnomalies() {
    const r = await api(`/api/v1/anomalies?site=${encodeURIComponent(siteId)}&start=-7d&limit=50`);
    const list = document.getElementById("anomalies");
    if (!r.items.length) { list.replaceChildren(text("li", t("site.no_anomalies"), "muted")); return; }
    list.replaceChildren(...r.items.map(anomalyItem));
  }

  const clockFormat = new Intl.DateTimeFormat(peakline.lang, { timeStyle: "short" });
  const UNIT_SHOWN = { degC: "°C", degF: "°F" };
  const RATE_UNIT = { kWh: "kW", Wh: "W", MWh: "MW" };
  const POINTS_LISTED = 6;
  // The expected range and the value seen, with one number of decimals: as many as their size
  // warrants (180,000 W, 21.5 °C, 0.35 kW), more (up to 4 significant digits) until values
  // that differ read apart: "0.021 to 0.029 m3/h, it advanced at 0.019", not "0.02 to 0.03,
  // it advanced at 0.02".
  function whyFigures(low, high, seen) {
    const big = Math.max(Math.abs(low), Math.abs(high), Math.abs(seen));
    let places = big >= 100 ? 0 : big >= 10 ? 1 : 2;
    const most = Math.max(places, 3 - Math.floor(Math.log10(big || 1)));
    const apart = (a, b) => a === b || fmt(a, places) !== fmt(b, places);
    while (places < most && !(apart(low, high) && apart(low, seen) && apart(high, seen))) {
      places += 1;
    }
    return { low: fmt(low, places), high: fmt(high, places), seen: fmt(seen, places) };
  }

  // One incident per device: the points it involves, and why (expected range, value seen).
  // An incident a command explains (the platform's own order, issue 18) is dimmed, says which
  // change explains it and asks for no verdict: it is no alarm.
  function anomalyItem(e) {
    const points = e.points && e.points.length ? e.points : [e.point];
    // a device-wide fault lists dozens of registers: the first few, how many more, and the
    // whole list on hover
    const listed = points.length > POINTS_LISTED
      ? t("site.anomaly_points_more", { points: points.slice(0, POINTS_LISTED - 1).join(", "), more: points.length - POINTS_LISTED + 1 })
      : points.join(", ");
    const li = text("li", t("site.anomaly_line", {
      time: dateTime(e.start), device: e.device, points: listed, count: points.length,
      kind: label("anomaly", e.kind), score: fmt(e.peak_score, 2), state: label("anomaly_state", e.state),
    }), e.state);
    li.dataset.points = points.join(",");
    if (points.length > POINTS_LISTED) li.title = points.join(", ");
    li.dataset.device = e.device;
    li.dataset.kind = e.kind;
    li.dataset.start = e.start;
    li.dataset.verdict = e.verdict || "";
    li.dataset.explained = e.cause ? "true" : "";
    if (e.cause) {
      const info = pointInfo.get(`${e.device}/${e.cause.point}`) || {};
      li.classList.add("explained");
      li.append(text("div", t("site.anomaly_after_command", {
        point: label("writable", e.cause.point), from: fmt(e.cause.before, 1), to: fmt(e.cause.after, 1),
        unit: UNIT_SHOWN[info.unit] ?? (info.unit || ""), time: clockFormat.format(new Date(e.cause.at)),
      }), "cause"));
    }
    if (e.seen !== null && e.seen !== undefined) {
      // A counter's expected range is its rate (per hour); a flatline is about time, not range.
      const info = pointInfo.get(`${e.device}/${e.point}`) || {};
      // an energy counter's rate per hour is a power (kWh/h is kW)
      const unit = info.counter && info.unit ? (RATE_UNIT[info.unit] ?? `${info.unit}/h`) : (UNIT_SHOWN[info.unit] ?? (info.unit || ""));
      const low = e.expected_low ?? e.seen, high = e.expected_high ?? e.seen;
      // a drift is a run of readings off the usual level, each of which may lie within what
      // a single reading may take: said so, with the side it ran on
      const drift = e.kind === "drift" && e.seen >= low && e.seen <= high;
      const side = e.seen >= (low + high) / 2 ? "high" : "low";
      const why = e.kind === "flatline" ? "site.anomaly_why_flatline"
        : drift ? `site.anomaly_why_drift${info.counter ? "_counter" : ""}_${side}`
        : info.counter ? "site.anomaly_why_counter" : "site.anomaly_why";
      li.append(text("div", t(why, { point: e.point, ...whyFigures(low, high, e.seen), unit }), "muted"));
    } else if (e.kind === "gap") {
      li.append(text("div", t("site.anomaly_why_gap", { count: points.length }), "muted"));
    }
    if (!e.cause) li.append(feedbackRow(e));
    return li;
  }

  // An operator's verdict (issue 18): a false alarm keeps the same pattern from raising events.
  function feedbackRow(e) {
    const row = document.createElement("div");
    row.className = "feedback";
    const li = (el) => el.closest("li");
    if (e.verdict) {
      const shown = text("span", t(`site.anomaly_verdict_${e.verdict}`), "verdict");
      if (e.verdict_note) shown.title = e.verdict_note;
      row.append(shown);
    }
    for (const [verdict, key] of [["false_alarm", "site.anomaly_false_alarm"], ["confirmed", "site.anomaly_confirm"]]) {
      if (e.verdict === verdict) continue;
      const button = text("button", t(key));
      button.type = "button";
      button.dataset.verdict = verdict;
      button.title = t("site.anomaly_feedback_who");
      button.addEventListener("click", async () => {
        for (const b of row.querySelectorAll("button")) b.disabled = true;
        try {
          await api(`/api/v1/anomalies/${encodeURIComponent(e.event_id)}/feedback`, {
            method: "POST",
            headers: { "Content-Type": "application/json" },
            body: JSON.stringify({ verdict, note: "" }),
          });
          li(row).replaceWith(anomalyItem(Object.assign({}, e, { verdict, verdict_note: "" })));
        } catch (err) {
          for (const b of row.querySelectorAll("button")) b.disabled = false;
          showError(err.message);
        }
      });
      row.append(button);
    }
    return row;
  }

  function renderDevices(devices) {
    const body = document.querySelector("#devices-table tbody");
    body.replaceChildren(...devices.map((d) => {
      const tr = document.createElement("tr");
      tr.dataset.device = d.id;
      const state = document.createElement("td");
      state.append(badge(d.status.state));
      tr.append(text("td", d.name || d.id), text("td", label("kind", d.kind)), state,
        text("td", dateTime(d.status.last_seen)), text("td", d.status.quality ? label("quality", d.status.quality) : t("empty.no_data")));
      return tr;
    }));
  }

  function renderCommandTargets(devices) {
    const select = document.getElementById("cmd-target");
    const options = [];
    for (const d of devices) for (const p of d.points) if (p.writable) {
      const o = text("option", `${d.id} · ${p.name} (${num(p.writable.min, 1)}–${num(p.writable.max, 1)} ${UNIT_SHOWN[p.unit] ?? p.unit})`);
      o.value = `${d.id}/${p.name}`;
      options.push(o);
    }
    select.replaceChildren(...options);
    document.getElementById("cmd-send").disabled = options.length === 0;
  }

  function follow() {
    stream(`/api/v1/stream?site=${encodeURIComponent(siteId)}`, (event, data) => {
      if (event === "readings" && data.device === meter && powerPlot) {
        for (const r of data.readings) {
          if (r.point !== "power_total" || typeof r.value !== "number") continue;
          const t = r.t_ms / 1000;
          if (powerData[0].length && t <= powerData[0][powerData[0].length - 1]) continue;
          powerData[0].push(t); powerData[1].push(r.value / 1000);
          while (powerData[0].length && powerData[0][0] < t - POWER_WINDOW_S) { powerData[0].shift(); powerData[1].shift(); }
        }
        powerPlot.setData(powerData);
        noData(document.getElementById("power-chart"), powerData[0].length === 0, "");
        document.getElementById("power-chart").dataset.points = String(powerData[0].length);
      } else if (event === "ack") {
        if (data.id === currentCommand) setCommandState(data.state, data.reason, data.readback);
      } else if (event === "anomaly") {
        loadAnomalies();
      } else if (event === "status") {
        const cell = document.querySelector(`#devices-table tr[data-device="${CSS.escape(data.device)}"] td:nth-child(3)`);
        if (cell) cell.replaceChildren(badge(data.state));
      }
    }, (state) => {
      const badge = document.getElementById("live-state");
      badge.dataset.i18n = "live." + state;
      badge.textContent = t("live." + state);
      badge.className = state === "live" ? "badge live" : "badge";
    });
  }

  let currentCommand = null;
  function setCommandState(state, reason, readback) {
    const el = document.getElementById("cmd-state");
    el.removeAttribute("data-i18n");
    el.textContent = label("cmd_state", state);
    el.dataset.state = state;
    document.getElementById("cmd-detail").textContent =
      [reason, readback !== null && readback !== undefined ? t("cmd.read_back", { value: readback }) : null].filter(Boolean).join(" · ");
  }

  async function sendCommand(ev) {
    ev.preventDefault();
    const [device, point] = document.getElementById("cmd-target").value.split("/");
    const revert = document.getElementById("cmd-revert").value;
    const body = {
      site: siteId, device, point,
      value: Number(document.getElementById("cmd-value").value),
      expires_in_s: 60,
      idempotency_key: crypto.randomUUID(),
      dry_run: document.getElementById("cmd-dry").checked,
      revert_after_s: revert ? Number(revert) : null,
    };
    setCommandState("sending", "", null);
    try {
      const cmd = await api("/api/v1/commands", { method: "POST", body: JSON.stringify(body), headers: { "Content-Type": "application/json" } });
      currentCommand = cmd.id;
      setCommandState(cmd.state, cmd.reason, cmd.readback);
      const deadline = Date.now() + 90000;
      let state = cmd.state;
      while (!FINAL.has(state) && Date.now() < deadline && currentCommand === cmd.id) {
        await new Promise((r) => setTimeout(r, 1000));
        const now = await api("/api/v1/commands/" + encodeURIComponent(cmd.id));
        state = now.state;
        setCommandState(now.state, now.reason, now.readback);
      }
    } catch (e) {
      setCommandState("error", e.message, null);
    }
  }

  document.getElementById("cmd-form").addEventListener("submit", sendCommand);
  ready.then(() => {
    setupKeyForm(load);
    load();
  }, (e) => showError(e.message));
})();
