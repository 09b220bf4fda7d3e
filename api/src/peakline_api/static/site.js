// Site page: live power and carbon-intensity charts, emissions vs target, anomalies, devices,
// and the command form (POST /api/v1/commands, then follow the command to its final state).
"use strict";

(() => {
  const { api, stream, setupKeyForm, showError, fmt, text, param } = peakline;
  const siteId = param("site");
  const FINAL = new Set(["applied", "rejected", "failed", "expired", "reverted"]);
  let powerPlot = null, powerData = [[], []], meter = null, ciPlot = null, streaming = false;

  // The x axis always shows the requested window ending now, so a chart with one point (a new
  // site, a fresh demo) is not stretched by uPlot's automatic range into years.
  function chart(el, label, data, color, windowS) {
    const opts = {
      width: el.clientWidth || 600, height: 240,
      scales: { x: { time: true, range: () => { const now = Date.now() / 1000; return [now - windowS, now]; } } },
      series: [{}, { label, stroke: color, width: 2, spanGaps: true }],
      axes: [{}, { size: 60 }],
    };
    el.replaceChildren();
    return new uPlot(opts, data, el);
  }

  async function load() {
    if (!siteId) { showError("no site given"); return; }
    try {
      const site = await api("/api/v1/sites/" + encodeURIComponent(siteId));
      document.getElementById("site-name").textContent = site.name;
      document.title = "peakline · " + site.name;
      document.getElementById("site-meta").textContent =
        `${site.city} · ${site.district} · ${site.kind} · ${site.floor_area_m2} m² · grid ${site.grid_region} · ${site.timezone}`;
      const devices = (await api(`/api/v1/devices?site=${encodeURIComponent(siteId)}&limit=1000`)).items;
      renderDevices(devices);
      renderCommandTargets(devices);
      meter = (devices.find((d) => ["meter", "feeder"].includes(d.kind) && d.points.some((p) => p.name === "power_total")) || {}).id;
      await Promise.all([loadPower(), loadIntensity(site.grid_region), loadEmissions(), loadAnomalies()]);
      showError("");
      if (!streaming) { streaming = true; follow(); }
    } catch (e) {
      showError(e.status === 401 ? "Enter an API key." : e.message);
    }
  }

  async function loadPower() {
    const el = document.getElementById("power-chart");
    if (!meter) { el.replaceChildren(text("p", "no main meter at this site", "muted")); return; }
    const r = await api(`/api/v1/series?device=${encodeURIComponent(meter)}&point=power_total&start=-1h`);
    const s = r.series[0] || { t_ms: [], values: [] };
    powerData = [s.t_ms.map((t) => t / 1000), s.values.map((v) => (v === null ? null : v / 1000))];
    powerPlot = chart(el, "kW", powerData, "#0b6bcb", 3600);
    el.dataset.points = String(powerData[0].length);
  }

  async function loadIntensity(region) {
    const r = await api(`/api/v1/carbon-intensity/series?region=${encodeURIComponent(region)}&start=-1d`);
    const s = r.series[0] || { t_ms: [], values: [] };
    ciPlot = chart(document.getElementById("ci-chart"), "gCO2e/kWh", [s.t_ms.map((t) => t / 1000), s.values], "#b26a00", 86400);
  }

  async function loadEmissions() {
    const r = await api(`/api/v1/reports/emissions?level=site&site=${encodeURIComponent(siteId)}&start=-30d`);
    const box = document.getElementById("emissions");
    const row = r.items[0];
    if (!row) { box.replaceChildren(text("p", "no emissions recorded yet", "muted")); return; }
    const total = (m) => Object.values(row.emissions_kgco2e[m] || {}).reduce((a, b) => a + b, 0);
    const target = row.target_kgco2e ?? null;
    const values = [["location-based", total("location")], ["market-based", total("market")]];
    const max = Math.max(target || 0, ...values.map((v) => v[1])) || 1;
    box.replaceChildren(...values.map(([label, kg]) => {
      const line = text("div", "", "bar-row");
      const bar = text("div", "", target !== null && kg > target ? "bar over" : "bar");
      bar.style.width = `${(100 * kg) / max}%`;
      line.append(text("span", label), bar, text("span", `${fmt(kg / 1000, 2)} tCO2e`, "num"));
      return line;
    }), text("p", target === null ? "No target configured for this site." : `Target: ${fmt(target / 1000, 2)} tCO2e`, "muted"),
    text("p", `Intensity: ${fmt(row.intensity.kgco2e_per_m2, 2)} kgCO2e/m² · ${fmt(row.intensity.kwh_per_m2, 1)} kWh/m²`, "muted"));
  }

  async function loadAnomalies() {
    const r = await api(`/api/v1/anomalies?site=${encodeURIComponent(siteId)}&start=-7d&limit=50`);
    const list = document.getElementById("anomalies");
    if (!r.items.length) { list.replaceChildren(text("li", "no anomalies", "muted")); return; }
    list.replaceChildren(...r.items.map((e) => text("li",
      `${e.start.replace("T", " ").slice(0, 16)} · ${e.device}/${e.point} · ${e.kind} · score ${fmt(e.peak_score, 2)} · ${e.state}`, e.state)));
  }

  function renderDevices(devices) {
    const body = document.querySelector("#devices-table tbody");
    body.replaceChildren(...devices.map((d) => {
      const tr = document.createElement("tr");
      tr.dataset.device = d.id;
      tr.append(text("td", d.name || d.id), text("td", d.kind), text("td", d.status.state, "badge state-" + d.status.state),
        text("td", d.status.last_seen ? d.status.last_seen.replace("T", " ").slice(0, 19) : "–"), text("td", d.status.quality || "–"));
      return tr;
    }));
  }

  function renderCommandTargets(devices) {
    const select = document.getElementById("cmd-target");
    const options = [];
    for (const d of devices) for (const p of d.points) if (p.writable) {
      const o = text("option", `${d.id} · ${p.name} (${p.writable.min}..${p.writable.max} ${p.unit})`);
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
          while (powerData[0].length && powerData[0][0] < t - 3600) { powerData[0].shift(); powerData[1].shift(); }
        }
        powerPlot.setData(powerData);
        document.getElementById("power-chart").dataset.points = String(powerData[0].length);
      } else if (event === "ack") {
        if (data.id === currentCommand) setCommandState(data.state, data.reason, data.readback);
      } else if (event === "anomaly") {
        loadAnomalies();
      } else if (event === "status") {
        const row = document.querySelector(`#devices-table tr[data-device="${CSS.escape(data.device)}"] td:nth-child(3)`);
        if (row) { row.textContent = data.state; row.className = "badge state-" + data.state; }
      }
    }, (state) => {
      const badge = document.getElementById("live-state");
      badge.textContent = state;
      badge.className = state === "live" ? "badge live" : "badge";
    });
  }

  let currentCommand = null;
  function setCommandState(state, reason, readback) {
    document.getElementById("cmd-state").textContent = state;
    document.getElementById("cmd-detail").textContent =
      [reason, readback !== null && readback !== undefined ? `read back ${readback}` : null].filter(Boolean).join(" · ");
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
  setupKeyForm(load);
  load();
})();
