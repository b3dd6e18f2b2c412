// Engagement pages: the range form's dates follow "Custom dates", and the charts (uPlot)
// are drawn from the page's own figures (the table below them holds the same numbers).
// Without script the form still works and the table is the whole page.
(() => {
  "use strict";

  // --- the range form ---------------------------------------------------------------
  const form = document.querySelector("[data-range-form]");
  if (form) {
    const range = form.querySelector("#range");
    const dates = form.querySelectorAll("[data-custom-date] input");
    // Editing a date means custom dates; a preset submits at once.
    for (const input of dates) {
      input.addEventListener("change", () => { range.value = "custom"; });
    }
    range.addEventListener("change", () => {
      if (range.value !== "custom") form.requestSubmit();
    });
    // Suggestions for the time zone: every zone the browser knows.
    const zones = document.getElementById("zones");
    if (zones && typeof Intl.supportedValuesOf === "function") {
      for (const zone of ["UTC", ...Intl.supportedValuesOf("timeZone")]) {
        zones.append(new Option("", zone));
      }
    }
  }

  // --- the charts -------------------------------------------------------------------
  const source = document.getElementById("engagement-data");
  if (!source || typeof window.uPlot !== "function") return;
  const data = JSON.parse(source.textContent);
  const uPlot = window.uPlot;
  const holders = [...document.querySelectorAll("[data-chart]")];
  const dark = window.matchMedia("(prefers-color-scheme: dark)");
  let charts = [];

  const colors = () => {
    const style = getComputedStyle(document.documentElement);
    const read = (name) => style.getPropertyValue(name).trim();
    return {
      series: [1, 2, 3].map((n) => read(`--chart-${n}`)),
      text: read("--muted"),
      grid: read("--border"),
    };
  };

  const hourly = data.interval === "hour";
  const tzDate = (seconds) => uPlot.tzDate(new Date(seconds * 1000), data.tz);
  const whole = (self, ticks) => ticks.map((v) => (Number.isInteger(v) ? v.toLocaleString() : ""));

  const options = (names, width, palette) => ({
    width,
    height: width < 500 ? 200 : 240,
    tzDate,
    cursor: { drag: { x: false, y: false } },
    legend: { live: false },
    scales: { x: { time: true }, y: { range: (self, min, max) => [0, Math.max(4, max)] } },
    axes: [
      { stroke: palette.text, grid: { stroke: palette.grid, width: 1 }, ticks: { stroke: palette.grid } },
      { stroke: palette.text, grid: { stroke: palette.grid, width: 1 }, ticks: { stroke: palette.grid },
        values: whole, size: 48 },
    ],
    series: [
      { label: hourly ? "Hour" : "Day",
        value: hourly ? "{YYYY}-{MM}-{DD} {HH}:{mm}" : "{YYYY}-{MM}-{DD}" },
      ...names.map((name, index) => ({
        label: data.labels[name],
        stroke: palette.series[index],
        width: 2,
        dash: index === 1 ? [6, 3] : index === 2 ? [2, 3] : undefined,
        points: { show: data.x.length <= 62, size: 5, fill: palette.series[index] },
      })),
    ],
  });

  const draw = () => {
    for (const chart of charts) chart.destroy();
    const palette = colors();
    charts = holders.map((holder) => {
      const names = holder.dataset.chart.split(",");
      const rows = [data.x, ...names.map((name) => data.series[name])];
      return new uPlot(options(names, holder.clientWidth, palette), rows, holder);
    });
  };

  draw();
  dark.addEventListener("change", draw);
  new ResizeObserver(() => {
    charts.forEach((chart, index) => {
      const width = holders[index].clientWidth;
      if (Math.abs(width - chart.width) > 1) chart.setSize({ width, height: chart.height });
    });
  }).observe(holders[0].parentElement);
})();
