// Shared by the dashboard pages: language and message catalogue, API key, fetch wrapper, live
// stream reader, locale-aware formatting.
"use strict";

const peakline = (() => {
  const KEY = "peakline.apiKey";
  const LANG_KEY = "peakline.lang";
  // Endonyms: each language is offered in its own script, so they are not in the catalogues.
  const LANGUAGES = { en: "English", "zh-CN": "简体中文" };
  const key = () => localStorage.getItem(KEY) || "";

  // The saved choice first, then the browser's languages (navigator.languages), then English.
  function chooseLanguage() {
    const saved = localStorage.getItem(LANG_KEY);
    if (saved && saved in LANGUAGES) return saved;
    for (const tag of navigator.languages || [navigator.language || ""]) {
      const lower = String(tag).toLowerCase();
      if (lower.startsWith("zh")) return "zh-CN";
      if (lower.startsWith("en")) return "en";
    }
    return "en";
  }

  const lang = chooseLanguage();
  document.documentElement.lang = lang;
  let messages = {};

  // t("key", {name: value}): the chosen language's message with {name} placeholders filled.
  // A key missing from the catalogue shows as itself (the catalogue test keeps that from shipping).
  function t(id, params) {
    const msg = Object.prototype.hasOwnProperty.call(messages, id) ? messages[id] : id;
    return params ? msg.replace(/\{(\w+)\}/g, (m, name) => (name in params ? String(params[name]) : m)) : msg;
  }

  // Elements name their message: data-i18n (text), data-i18n-placeholder, data-i18n-aria-label,
  // data-i18n-title; <title data-i18n> too.
  function translate(root = document) {
    for (const el of root.querySelectorAll("[data-i18n]")) el.textContent = t(el.dataset.i18n);
    for (const attr of ["placeholder", "title", "aria-label"]) {
      const data = "i18n" + attr.replace(/(^|-)(\w)/g, (m, dash, c) => c.toUpperCase());
      for (const el of root.querySelectorAll(`[data-i18n-${attr}]`)) el.setAttribute(attr, t(el.dataset[data]));
    }
  }

  function languageSwitch() {
    const header = document.querySelector("header");
    if (!header || document.getElementById("lang")) return;
    const select = document.createElement("select");
    select.id = "lang";
    select.dataset.i18nAriaLabel = "lang.switch";
    select.dataset.i18nTitle = "lang.switch";
    for (const [tag, name] of Object.entries(LANGUAGES)) {
      const o = document.createElement("option");
      o.value = tag;
      o.lang = tag;
      o.textContent = name;
      select.append(o);
    }
    select.value = lang;
    select.addEventListener("change", () => {
      localStorage.setItem(LANG_KEY, select.value);
      location.reload();
    });
    header.append(select);
  }

  // Resolves once the catalogue is loaded and the static text is translated; pages start then.
  const ready = fetch(`i18n/${lang}.json`)
    .then((resp) => {
      if (!resp.ok) throw new Error(`catalogue ${lang}: ${resp.status}`);
      return resp.json();
    })
    .then((catalogue) => {
      messages = catalogue;
      languageSwitch();
      translate();
    });

  function showError(message) {
    const el = document.getElementById("error");
    if (!el) return;
    el.textContent = message || "";
    el.hidden = !message;
  }

  // The API answers problem titles in the language asked for (Accept-Language).
  async function api(path, options = {}) {
    const headers = Object.assign({ Authorization: "Bearer " + key(), "Accept-Language": lang }, options.headers || {});
    const resp = await fetch(path, Object.assign({}, options, { headers }));
    const type = resp.headers.get("content-type") || "";
    const body = type.includes("json") ? await resp.json() : await resp.text();
    if (!resp.ok) {
      const title = body && body.title ? body.title : resp.statusText;
      const detail = body && body.detail && body.detail !== title ? ` (${body.detail})` : "";
      const err = new Error(`${resp.status} ${title}${detail}`);
      err.status = resp.status;
      err.body = body;
      throw err;
    }
    return body;
  }

  // Server-sent events over fetch (EventSource cannot send the API key header).
  async function stream(path, onEvent, onState) {
    for (let delay = 1000; ; delay = Math.min(delay * 2, 30000)) {
      try {
        const resp = await fetch(path, { headers: { Authorization: "Bearer " + key(), Accept: "text/event-stream" } });
        if (!resp.ok) throw new Error("stream " + resp.status);
        onState("live");
        delay = 1000;
        const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let cut;
          while ((cut = buf.indexOf("\n\n")) >= 0) {
            const block = buf.slice(0, cut);
            buf = buf.slice(cut + 2);
            let event = "message", data = "";
            for (const line of block.split("\n")) {
              if (line.startsWith("event: ")) event = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
            }
            if (data) onEvent(event, JSON.parse(data));
          }
        }
      } catch (e) {
        onState("offline");
      }
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  function setupKeyForm(onKey) {
    const form = document.getElementById("key-form");
    const input = document.getElementById("key-input");
    const who = document.getElementById("key-who");
    who.textContent = t(key() ? "key.set" : "key.none");
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (input.value.trim()) localStorage.setItem(KEY, input.value.trim());
      cityNamesAsked = null;  // another key may see other cities
      input.value = "";
      who.textContent = t("key.set");
      onKey();
    });
  }

  const numberFormats = new Map();
  // A number in the chosen locale with `digits` decimals; null when there is no number.
  function num(v, digits = 1) {
    if (v === null || v === undefined || !Number.isFinite(Number(v))) return null;
    if (!numberFormats.has(digits)) {
      numberFormats.set(digits, new Intl.NumberFormat(lang, { minimumFractionDigits: digits, maximumFractionDigits: digits }));
    }
    return numberFormats.get(digits).format(Number(v));
  }
  // As num, but a missing figure says so ("no data") instead of a dash.
  const fmt = (v, digits = 1) => num(v, digits) ?? t("empty.no_data");
  const percent = (share, digits = 1) => (share === null || share === undefined ? t("empty.no_data")
    : new Intl.NumberFormat(lang, { style: "percent", minimumFractionDigits: digits, maximumFractionDigits: digits }).format(share));

  const dateTimeFormat = new Intl.DateTimeFormat(lang, { dateStyle: "medium", timeStyle: "short" });
  const timeFormat = new Intl.DateTimeFormat(lang, { timeStyle: "medium" });
  const toDate = (v) => (v instanceof Date ? v : new Date(v));
  const dateTime = (v) => (v === null || v === undefined ? t("empty.never") : dateTimeFormat.format(toDate(v)));
  const time = (v) => timeFormat.format(toDate(v));

  const text = (tag, content, cls) => {
    const el = document.createElement(tag);
    el.textContent = content;
    if (cls) el.className = cls;
    return el;
  };
  // A table cell for a figure: the formatted number, or a muted "no data" that says so.
  function figure(v, digits, cls) {
    const shown = num(v, digits);
    const el = text("td", shown ?? t("empty.no_data"), cls);
    if (shown === null) el.classList.add("empty");
    else el.dataset.value = String(v);
    return el;
  }
  const param = (name) => new URLSearchParams(location.search).get(name);
  // City id -> its name (GET /api/v1/cities), for tables that carry the id: asked once per page
  // and key, asked again after a failure.
  let cityNamesAsked = null;
  function cityNames() {
    if (!cityNamesAsked) {
      cityNamesAsked = api("/api/v1/cities?limit=1000")
        .then((r) => new Map(r.items.map((c) => [c.id, c.name])))
        .catch((e) => { cityNamesAsked = null; throw e; });
    }
    return cityNamesAsked;
  }

  return { api, stream, setupKeyForm, showError, fmt, num, percent, figure, dateTime, time, text, param, key, t, lang, ready, translate, cityNames };
})();
