// Shared by the dashboard pages: API key, fetch wrapper, live stream reader, formatting.
"use strict";

const peakline = (() => {
  const KEY = "peakline.apiKey";
  const key = () => localStorage.getItem(KEY) || "";

  function showError(message) {
    const el = document.getElementById("error");
    if (!el) return;
    el.textContent = message || "";
    el.hidden = !message;
  }

  async function api(path, options = {}) {
    const headers = Object.assign({ Authorization: "Bearer " + key() }, options.headers || {});
    const resp = await fetch(path, Object.assign({}, options, { headers }));
    const type = resp.headers.get("content-type") || "";
    const body = type.includes("json") ? await resp.json() : await resp.text();
    if (!resp.ok) {
      const detail = body && body.detail ? body.detail : resp.statusText;
      const err = new Error(`${resp.status}: ${detail}`);
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
    who.textContent = key() ? "key set" : "no key";
    form.addEventListener("submit", (ev) => {
      ev.preventDefault();
      if (input.value.trim()) localStorage.setItem(KEY, input.value.trim());
      input.value = "";
      who.textContent = "key set";
      onKey();
    });
  }

  const fmt = (v, digits = 1) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
  const text = (tag, content, cls) => {
    const el = document.createElement(tag);
    el.textContent = content;
    if (cls) el.className = cls;
    return el;
  };
  const param = (name) => new URLSearchParams(location.search).get(name);

  return { api, stream, setupKeyForm, showError, fmt, text, param, key };
})();
