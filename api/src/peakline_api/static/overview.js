// City overview: every visible site with power, today's energy and emissions, status, anomalies.
"use strict";

(() => {
  const { api, setupKeyForm, showError, fmt, figure, text, t, time, ready } = peakline;
  let timer = null;

  async function refresh() {
    try {
      const [sites, cities] = await Promise.all([
        api("/api/v1/overview"),
        api("/api/v1/reports/emissions?level=city&start=-30d"),
      ]);
      renderSites(sites);
      renderCities(cities.items);
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
      tr.append(
        name, text("td", s.city), text("td", s.district),
        power,
        figure(s.energy_today_kwh, 1, "num energy"),
        figure(s.emissions_today_kgco2e, 1, "num emissions"),
        figure(s.carbon_intensity_g_per_kwh, 0, "num"),
        status,
        figure(s.open_anomalies, 0, "num anomalies"),
      );
      return tr;
    }));
  }

  function renderCities(items) {
    const box = document.getElementById("cities");
    if (!items.length) { box.replaceChildren(text("p", t("overview.no_cities"), "muted")); return; }
    box.replaceChildren(...items.map((c) => {
      const card = text("div", "", "card");
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
      return card;
    }));
  }

  ready.then(() => {
    setupKeyForm(refresh);
    refresh();
    timer = setInterval(refresh, 10000);
  }, (e) => showError(e.message));
  window.addEventListener("beforeunload", () => clearInterval(timer));
})();
