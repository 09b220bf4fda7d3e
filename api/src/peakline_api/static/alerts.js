// Alerts (issue 22): incidents of the caller's cities, newest first; an operator acknowledges
// an open one with a comment (reminders stop; it still resolves by itself).
"use strict";

(() => {
  const { api, setupKeyForm, showError, text, t, dateTime, ready, param, cityNames } = peakline;
  const state = document.getElementById("state");
  const site = document.getElementById("site");
  if (param("site")) site.value = param("site");
  const SEVERITY = { info: "alerts.severity_info", warning: "alerts.severity_warning", critical: "alerts.severity_critical" };
  const STATE = { open: "alerts.state_open", acknowledged: "alerts.state_acknowledged", resolved: "alerts.state_resolved" };

  async function refresh() {
    const q = new URLSearchParams();
    if (state.value) q.set("state", state.value);
    if (site.value.trim()) q.set("site", site.value.trim());
    try {
      const [incidents, rules, cities] = await Promise.all([
        api("/api/v1/alerts/incidents?" + q.toString()),
        api("/api/v1/alerts/rules"),
        cityNames(),
      ]);
      render(incidents, new Map(rules.map((r) => [r.id, r.name])), cities);
      showError("");
    } catch (e) {
      showError(e.status === 401 ? t("alerts.need_key") : e.message);
    }
  }

  function render(incidents, names, cities) {
    const body = document.querySelector("#incidents tbody");
    document.getElementById("none").hidden = incidents.length > 0;
    body.replaceChildren(...incidents.map((i) => {
      const tr = document.createElement("tr");
      tr.dataset.id = i.id;
      tr.append(text("td", dateTime(i.opened)), text("td", t(SEVERITY[i.severity] || i.severity), "sev-" + i.severity),
        text("td", names.get(i.rule) || i.rule), text("td", i.site && i.site !== i.subject ? `${i.subject} (${i.site})` : i.subject),
        text("td", cities.get(i.city) ?? i.city));
      const status = text("td", t(STATE[i.state] || i.state));
      if (i.acknowledged_by) status.title = `${i.acknowledged_by}: ${i.comment || ""}`;
      tr.append(status);
      const action = document.createElement("td");
      if (i.state === "open") {
        const comment = document.createElement("input");
        comment.placeholder = t("alerts.comment");
        comment.size = 16;
        const button = text("button", t("alerts.acknowledge"));
        button.type = "button";
        button.addEventListener("click", async () => {
          button.disabled = true;
          try {
            await api(`/api/v1/alerts/incidents/${encodeURIComponent(i.id)}/acknowledge`, {
              method: "POST",
              headers: { "Content-Type": "application/json" },
              body: JSON.stringify({ comment: comment.value }),
            });
            await refresh();
          } catch (e) {
            button.disabled = false;
            showError(e.message);
          }
        });
        action.append(comment, button);
      }
      tr.append(action);
      return tr;
    }));
  }

  state.addEventListener("change", refresh);
  site.addEventListener("change", refresh);
  ready.then(() => {
    setupKeyForm(refresh);
    refresh();  // on arrival, not 30 s later
  }, (e) => showError(e.message));
  setInterval(refresh, 30000);
})();
