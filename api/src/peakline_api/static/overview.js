// City overview: every visible site with power, today's energy and emissions, status, anomalies.
"use strict";

(() => {
  const { api, setupKeyForm, showError, fmt, text } = peakline;
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
      document.getElementById("updated").textContent = "Updated " + new Date().toLocaleTimeString();
    } catch (e) {
      showError(e.status === 401 ? "Enter an API key to see the programme." : e.message);
    }
  }

  function renderSites(sites) {
    const body = document.querySelector("#sites-table tbody");
    body.replaceChildren(...sites.map((s) => {
      const tr = document.createElement("tr");
      tr.dataset.site = s.id;
      const name = document.createElement("td");
      const link = text("a", s.name);
      link.href = "site.html?site=" + encodeURIComponent(s.id);
      name.append(link);
      const status = text("td", `${s.online}/${s.devices}`);
      status.className = "status";
      tr.append(
        name, text("td", s.city), text("td", s.district),
        text("td", fmt(s.power_kw), "num power"),
        text("td", fmt(s.energy_today_kwh), "num energy"),
        text("td", fmt(s.emissions_today_kgco2e), "num emissions"),
        text("td", fmt(s.carbon_intensity_g_per_kwh, 0), "num"),
        status,
        text("td", String(s.open_anomalies), "num anomalies"),
      );
      return tr;
    }));
  }

  function renderCities(items) {
    const box = document.getElementById("cities");
    box.replaceChildren(...items.map((c) => {
      const card = text("div", "", "card");
      const kg = c.emissions_kgco2e.location ? Object.values(c.emissions_kgco2e.location).reduce((a, b) => a + b, 0) : null;
      card.append(
        text("strong", c.name), document.createElement("br"),
        text("span", `${c.sites} sites · 30 d: ${fmt(Object.values(c.energy_kwh).reduce((a, b) => a + b, 0), 0)} kWh, `
          + `${fmt(kg === null ? null : kg / 1000, 2)} tCO2e (location)`, "muted"),
      );
      return card;
    }));
  }

  setupKeyForm(refresh);
  refresh();
  timer = setInterval(refresh, 10000);
  window.addEventListener("beforeunload", () => clearInterval(timer));
})();
