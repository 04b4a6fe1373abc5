// The job page's GPU charts (dashboard/job_stats.py, _job_stats.html): each sample the stream swaps into
// #job-stats-now carries its values as JSON; the page keeps the samples it has seen (at most 360, an hour at
// 10 s) and draws per-GPU utilization and memory with uPlot. Nothing is kept when the page closes.
"use strict";

const jobStats = { times: [], keys: [], util: {}, mem: {}, charts: {} };
const JOB_STATS_MAX = 360;

function jobStatsChart(id, title, table, unit, top) {
  const box = document.getElementById(id);
  if (!box || typeof uPlot === "undefined") { return; }
  const colours = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
  const data = [jobStats.times, ...jobStats.keys.map((k) => table[k])];
  const old = jobStats.charts[id];
  if (old && old.series.length === jobStats.keys.length + 1) { old.setData(data); jobStatsWindow(old); return; }
  if (old) { old.destroy(); }
  const dark = window.matchMedia("(prefers-color-scheme: dark)").matches;
  const axis = { stroke: dark ? "#ccc" : "#333", grid: { stroke: dark ? "#333" : "#eee" } };
  jobStats.charts[id] = new uPlot({
    title, width: Math.min(box.clientWidth || 600, 900), height: 200,
    // at least the last 10 minutes on x (one sample alone would span years); utilization on 0..100
    scales: { y: { range: (u, min, max) => [0, Math.max(top || 0, max || 1)] } },
    series: [{}, ...jobStats.keys.map((k, i) => ({ label: `GPU ${k} ${unit}`, stroke: colours[i % colours.length], width: 2 }))],
    axes: [axis, axis],
  }, data, box);
  jobStatsWindow(jobStats.charts[id]);
}

// at least the last 10 minutes on x: one sample alone would otherwise span years
function jobStatsWindow(chart) {
  const last = jobStats.times[jobStats.times.length - 1];
  chart.setScale("x", { min: Math.min(jobStats.times[0], last - 600), max: last + 15 });
}

function jobStatsSample() {
  const node = document.querySelector("#job-stats-now .job-stats-sample");
  if (!node) { return; }
  const sample = JSON.parse(node.textContent);
  sample.gpus.forEach((g) => {
    if (!jobStats.keys.includes(g.key)) {
      jobStats.keys.push(g.key);
      jobStats.util[g.key] = jobStats.times.map(() => null);
      jobStats.mem[g.key] = jobStats.times.map(() => null);
    }
  });
  jobStats.times.push(Date.parse(sample.at) / 1000);
  jobStats.keys.forEach((k) => {
    const g = sample.gpus.find((x) => x.key === k);
    jobStats.util[k].push(g ? g.util : null);
    jobStats.mem[k].push(g ? g.mem : null);
  });
  if (jobStats.times.length > JOB_STATS_MAX) {
    jobStats.times.shift();
    jobStats.keys.forEach((k) => { jobStats.util[k].shift(); jobStats.mem[k].shift(); });
  }
  if (!jobStats.keys.length) { return; }
  jobStatsChart("job-stats-util", "GPU utilization %", jobStats.util, "%", 100);
  jobStatsChart("job-stats-mem", "GPU memory used (GiB)", jobStats.mem, "GiB");
}

document.addEventListener("DOMContentLoaded", () => {
  const now = document.getElementById("job-stats-now");
  if (now) { new MutationObserver(jobStatsSample).observe(now, { childList: true }); }
});
