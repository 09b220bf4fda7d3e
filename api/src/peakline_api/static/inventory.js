// GHG inventory: Scope 1 and 2 per site, district or city for a year, printable,
// in the page's language (strings under inventory.* in the i18n catalogues).
"use strict";

(() => {
  const { api, key, setupKeyForm, showError, fmt, text, t, ready } = peakline;
  const level = document.getElementById("level");
  const year = document.getElementById("year");
  year.value = String(new Date().getUTCFullYear());
  const query = () => `level=${encodeURIComponent(level.value)}&year=${encodeURIComponent(year.value)}`;

  // each inventory is headed by its site's, district's or city's name, as on the other pages
  const CATALOG = { site: "/api/v1/sites", district: "/api/v1/districts", city: "/api/v1/cities" };
  // a category, carrier or fuel in the reader's language (the id where no word is known)
  const term = (id) => {
    const shown = t(`inventory.term.${id}`);
    return shown === `inventory.term.${id}` ? id : shown;
  };

  async function refresh() {
    try {
      const [report, names] = await Promise.all([
        api("/api/v1/reports/inventory?" + query()),
        api(CATALOG[level.value] + "?limit=1000"),
      ]);
      render(report, new Map(names.items.map((n) => [n.id, n.name])));
      showError("");
    } catch (e) {
      showError(e.status === 401 ? t("inventory.need_key") : e.message);
    }
  }

  function renderDataCentres(centres) {
    const out = document.getElementById("data-centres");
    if (!centres.length) { out.replaceChildren(); return; }
    const table = document.createElement("table");
    const head = document.createElement("tr");
    for (const k of ["dc_id", "dc_site", "dc_pue", "dc_pue_hourly", "dc_wue", "dc_it_kwh", "dc_hours"]) {
      head.append(text("th", t("inventory." + k)));
    }
    table.append(head);
    for (const d of centres) {
      const tr = document.createElement("tr");
      tr.dataset.id = d.id;
      const h = d.pue_hourly;
      tr.append(text("td", d.id), text("td", d.site),
        text("td", d.pue === null ? t("empty.no_data") : fmt(d.pue, 2), "num pue"),
        text("td", h ? `${fmt(h.min, 2)} / ${fmt(h.p50, 2)} / ${fmt(h.p95, 2)} / ${fmt(h.max, 2)}` : "–", "num"),
        text("td", d.wue_l_per_kwh === null ? "–" : fmt(d.wue_l_per_kwh, 2), "num"),
        text("td", d.it_kwh === null ? "–" : fmt(d.it_kwh, 0), "num"),
        text("td", t("inventory.dc_hours_of", { used: d.hours_used, hours: d.hours, suspect: d.suspect_hours }), "num"));
      table.append(tr);
    }
    out.replaceChildren(text("h2", t("inventory.data_centres")), table);
  }

  function render(report, names) {
    renderDataCentres(report.data_centres || []);
    const out = document.getElementById("inventories");
    out.replaceChildren(...report.items.map((inv) => {
      const box = document.createElement("article");
      box.dataset.id = inv.id;
      box.append(text("h2", `${names.get(inv.id) ?? inv.id} · ${inv.year}`));
      const m = inv.methods;
      const methods = [`GWP ${m.gwp}`, m.fuel_method, ...m.factor_sets].filter(Boolean);
      box.append(text("p", `${t("inventory.methods")}: ${methods.join(", ")}`, "muted"));
      const table = document.createElement("table");
      const head = document.createElement("tr");
      for (const k of ["scope", "category", "source", "activity", "co2e_kg", "market_kg"]) {
        head.append(text("th", t("inventory." + k)));
      }
      table.append(head);
      for (const l of inv.scope1.lines) {
        const tr = document.createElement("tr");
        tr.append(text("td", "1"), text("td", term(l.category)), text("td", term(l.source)),
          text("td", `${fmt(l.activity, 1)} ${l.activity_unit}`, "num"),
          text("td", fmt(l.co2e_kg, 0), "num"), text("td", fmt(l.co2e_kg, 0), "num"));
        table.append(tr);
      }
      for (const l of inv.scope2.lines) {
        const tr = document.createElement("tr");
        tr.append(text("td", "2"), text("td", term(l.carrier)), text("td", l.factor_set || "–"),
          text("td", `${fmt(l.energy_kwh, 0)} kWh`, "num"),
          text("td", fmt(l.location_kg, 0), "num"), text("td", fmt(l.market_kg, 0), "num"));
        table.append(tr);
      }
      box.append(table);
      box.append(text("p", `${t("inventory.scope1_total")}: ${fmt(inv.scope1.total_co2e, 0)} kgCO2e · ` +
        `${t("inventory.scope2_total")}: ${fmt(inv.scope2.location, 0)} / ${fmt(inv.scope2.market, 0)} kgCO2e`));
      // what the GHG Protocol reports beside the scopes, never in their totals: an HCFC's
      // leaks (a Montreal Protocol gas), biogenic CO2, avoided emissions
      const apart = inv.reported_apart;
      const parts = [];
      if (apart.non_kyoto_co2e) parts.push(t("inventory.non_kyoto", { value: fmt(apart.non_kyoto_co2e, 0) }));
      if (apart.biogenic_co2) parts.push(t("inventory.biogenic", { value: fmt(apart.biogenic_co2, 0) }));
      for (const [cause, kg] of Object.entries(apart.avoided_co2e)) {
        if (kg) parts.push(t("inventory.avoided", { cause: term(cause), value: fmt(kg, 0) }));
      }
      if (parts.length) box.append(text("p", t("inventory.reported_apart", { items: parts.join(" · ") }), "muted apart"));
      return box;
    }));
  }

  async function downloadCsv() {
    try {
      const resp = await fetch("/api/v1/reports/inventory.csv?" + query(),
        { headers: { Authorization: "Bearer " + key() } });
      if (!resp.ok) throw new Error(`${resp.status}: CSV export failed`);
      const url = URL.createObjectURL(await resp.blob());
      const a = document.createElement("a");
      a.href = url;
      a.download = `peakline-inventory-${level.value}-${year.value}.csv`;
      a.click();
      URL.revokeObjectURL(url);
    } catch (e) {
      showError(e.message);
    }
  }

  level.addEventListener("change", refresh);
  year.addEventListener("change", refresh);
  document.getElementById("csv").addEventListener("click", downloadCsv);
  document.getElementById("print").addEventListener("click", () => window.print());
  ready.then(() => {
    setupKeyForm(refresh);
    refresh();  // with a key already set, the report shows on arrival, not after a change
  }, (e) => showError(e.message));
})();
