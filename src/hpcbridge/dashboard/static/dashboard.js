// hpcbridge dashboard: live regions over server-sent events, confirmations, the CSRF header for htmx, and
// the GPU usage charts. No inline script anywhere (the Content-Security-Policy forbids it).
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// The person's choices, remembered by this browser (localStorage): theme (light, dark or system) and whether
// the live regions refresh by themselves.
const PREFS = { theme: "hpcbridge.theme", refresh: "hpcbridge.autoRefresh" };

function pref(key, fallback) {
  try { return window.localStorage.getItem(key) || fallback; } catch (e) { return fallback; }
}

function setPref(key, value) {
  try { window.localStorage.setItem(key, value); } catch (e) { /* private mode: this page only */ }
}

function applyTheme(theme) {
  if (theme === "light" || theme === "dark") { document.documentElement.dataset.theme = theme; }
  else { delete document.documentElement.dataset.theme; }
}
applyTheme(pref(PREFS.theme, "system"));  // before the first paint where the deferred script allows

// Every element with data-events="/events/..." is replaced by what the server pushes (already escaped HTML
// rendered by the server's templates), while auto-refresh is on.
const sources = new Map();

function connectLive(element) {
  const status = document.querySelector("[data-live-status]");
  const source = new EventSource(element.dataset.events);
  sources.set(element, source);
  source.addEventListener("update", (event) => {
    element.innerHTML = event.data;
    element.dataset.updated = String(Date.now());
    if (status) { status.textContent = "live"; status.classList.remove("stale"); }
  });
  source.onerror = () => { if (status) { status.textContent = "reconnecting"; status.classList.add("stale"); } };
}

function setAutoRefresh(on) {
  const status = document.querySelector("[data-live-status]");
  document.querySelectorAll("[data-events]").forEach((element) => {
    if (on && !sources.has(element)) { connectLive(element); }
    if (!on && sources.has(element)) { sources.get(element).close(); sources.delete(element); }
  });
  if (status && !on) { status.textContent = "paused"; status.classList.add("stale"); }
  if (status && on && status.textContent === "paused") { status.textContent = "live"; status.classList.remove("stale"); }
}

function toast(text, kind) {
  const box = document.getElementById("toasts");
  if (!box) { return null; }
  const item = document.createElement("div");
  item.className = "toast" + (kind ? " " + kind : "");
  item.setAttribute("role", "status");
  item.textContent = text;
  box.appendChild(item);
  window.setTimeout(() => item.remove(), 6000);
  return item;
}

// One listener for every form, those the live board brings in later included: confirm first, then the CSRF
// token for the board's own forms (its HTML is rendered for every viewer, without a token), then a toast.
function confirmForms() {
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (!(form instanceof HTMLFormElement)) { return; }
    if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) { event.preventDefault(); return; }
    if (form.method.toLowerCase() === "post" && !form.querySelector("input[name=csrf]")) {
      const input = document.createElement("input");
      input.type = "hidden"; input.name = "csrf"; input.value = csrfToken();
      form.appendChild(input);
    }
    if (form.dataset.toast) { toast(form.dataset.toast, "busy"); }
  });
}

function prefControls() {
  const theme = document.querySelector("[data-theme-choice]");
  if (theme) {
    theme.value = pref(PREFS.theme, "system");
    theme.addEventListener("change", () => { setPref(PREFS.theme, theme.value); applyTheme(theme.value); });
  }
  const refresh = document.querySelector("[data-auto-refresh]");
  const on = pref(PREFS.refresh, "on") === "on";
  if (refresh) {
    refresh.checked = on;
    refresh.addEventListener("change", () => {
      setPref(PREFS.refresh, refresh.checked ? "on" : "off");
      setAutoRefresh(refresh.checked);
      toast(refresh.checked ? "Auto-refresh on" : "Auto-refresh paused");
    });
  }
  setAutoRefresh(on);
  document.querySelectorAll("[data-toast-now]").forEach((el) => toast(el.dataset.toastNow, "ok"));
  if (window.location.search.includes("done=")) {  // a reload must not say it again
    const url = new URL(window.location.href);
    url.searchParams.delete("done");
    window.history.replaceState(null, "", url.pathname + url.search);
  }
}

// The search box: Ctrl+K / Cmd+K on every page asks /search.json (projects, logbook, history); hits are
// links built with textContent (a job name is never markup).
function searchBox() {
  const dialog = document.getElementById("search");
  const input = document.getElementById("search-q");
  const list = document.getElementById("search-hits");
  if (!dialog || !input || !list) { return; }
  let timer = 0;
  let asked = 0;
  const open = () => { if (!dialog.open) { dialog.showModal(); } input.select(); };
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") { event.preventDefault(); open(); }
  });
  document.querySelectorAll("[data-search-open]").forEach((b) => b.addEventListener("click", open));
  dialog.addEventListener("click", (event) => { if (event.target === dialog) { dialog.close(); } });
  const ask = async () => {
    const words = input.value.trim();
    const mine = ++asked;
    if (!words) { list.replaceChildren(); return; }
    const response = await fetch("/search.json?q=" + encodeURIComponent(words), { credentials: "same-origin" });
    const answer = await response.json();
    if (mine !== asked) { return; }  // a later keystroke's answer wins
    list.replaceChildren(...answer.hits.map((hit) => {
      const item = document.createElement("li");
      const kind = document.createElement("span");
      kind.className = "badge"; kind.textContent = hit.kind;
      const link = document.createElement(hit.href ? "a" : "span");
      if (hit.href) { link.href = hit.href; }
      link.textContent = hit.label;
      item.append(kind, " ", link);
      return item;
    }));
    if (!answer.hits.length) { const none = document.createElement("li"); none.textContent = "Nothing found."; list.append(none); }
  };
  input.addEventListener("input", () => { window.clearTimeout(timer); timer = window.setTimeout(ask, 150); });
  input.addEventListener("keydown", (event) => {
    if (event.key !== "Enter") { return; }
    event.preventDefault();
    const first = list.querySelector("a");
    if (first) { window.location.href = first.href; }
  });
}

function drawCharts() {
  const data = document.getElementById("usage");
  if (!data || typeof uPlot === "undefined") { return; }
  const usage = JSON.parse(data.textContent);
  document.querySelectorAll("[data-chart]").forEach((box) => {
    const points = usage.series[box.dataset.chart] || [];
    if (!points.length) { box.textContent = "No GPU usage recorded yet."; return; }
    const xs = points.map((p) => Date.parse(p[0]) / 1000);
    const chosen = document.documentElement.dataset.theme;
    const dark = chosen ? chosen === "dark" : window.matchMedia("(prefers-color-scheme: dark)").matches;
    const axis = { stroke: dark ? "#ccc" : "#333", grid: { stroke: dark ? "#333" : "#eee" } };
    new uPlot({
      width: Math.min(box.clientWidth || 900, 1200), height: 220,
      scales: { x: { time: true, range: () => [Date.now() / 1000 - usage.days * 86400, Date.now() / 1000] } },
      series: [{}, { label: "total", stroke: "#888" }, { label: "allocated", stroke: "#d62", fill: "rgba(221,102,34,0.15)" },
               { label: "mine", stroke: "#27c" }],
      axes: [axis, axis],
    }, [xs, points.map((p) => p[1]), points.map((p) => p[2]), points.map((p) => p[3])], box);
  });
}

document.addEventListener("DOMContentLoaded", () => {
  confirmForms();
  prefControls();
  searchBox();
  drawCharts();
});
document.addEventListener("htmx:configRequest", (event) => {
  event.detail.headers["X-CSRF-Token"] = csrfToken();
});
// A 400 carries the form's answer (what is wrong with a search): shown like any other answer, where htmx
// would otherwise drop it.
document.addEventListener("htmx:beforeSwap", (event) => {
  if (event.detail.xhr.status === 400) { event.detail.shouldSwap = true; event.detail.isError = false; }
});
