// The job page's metric charts (dashboard/job_metrics.py, _job_metrics.html): the fragment htmx swaps in
// carries its series as JSON; each [data-metric] box gets a uPlot line chart of one series (its own y range).
"use strict";

function drawJobMetrics() {
  const data = document.getElementById("job-metrics-data");
  if (!data || typeof uPlot === "undefined") { return; }
  const series = JSON.parse(data.textContent);
  const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
  const axis = { stroke: dark ? "#ccc" : "#333", grid: { stroke: dark ? "#333" : "#eee" } };
  const colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf"];
  document.querySelectorAll("[data-metric]").forEach((box) => {
    const s = series[Number(box.dataset.metric)];
    if (!s || box.dataset.drawn) { return; }
    box.dataset.drawn = "1";
    new uPlot({
      title: s.name, width: Math.min(box.clientWidth || 600, 900), height: 200,
      scales: { x: { time: false } },
      series: [{ label: "step" }, { label: s.name, stroke: colours[Number(box.dataset.metric) % colours.length], width: 2 }],
      axes: [axis, axis],
    }, [s.steps, s.values], box);
  });
}

document.addEventListener("htmx:afterSettle", drawJobMetrics);
