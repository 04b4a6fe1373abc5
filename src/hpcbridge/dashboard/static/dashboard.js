// hpcbridge dashboard: live regions over server-sent events, confirmations, the CSRF header for htmx, and
// the GPU usage charts. No inline script anywhere (the Content-Security-Policy forbids it).
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

// Every element with data-events="/events/..." is replaced by what the server pushes (already escaped HTML
// rendered by the server's templates).
function connectLive(element) {
  const status = document.querySelector("[data-live-status]");
  const source = new EventSource(element.dataset.events);
  source.addEventListener("update", (event) => {
    element.innerHTML = event.data;
    element.dataset.updated = String(Date.now());
    if (status) { status.textContent = "live"; status.classList.remove("stale"); }
  });
  source.onerror = () => { if (status) { status.textContent = "reconnecting"; status.classList.add("stale"); } };
}

function confirmForms() {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) { event.preventDefault(); }
    });
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
    const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
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
  document.querySelectorAll("[data-events]").forEach(connectLive);
  confirmForms();
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
