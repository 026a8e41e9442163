// The dashboard's only assets, shipped inside the package as modules (so the
// build needs no copy step and nothing is fetched at run time). Served from
// /assets/ with a strict Content-Security-Policy: no inline script or style.

export const STYLESHEET = `
:root { color-scheme: light dark; --fg: #1d232a; --muted: #68737d; --line: #d8dee4; --bg: #fff; --head: #f4f6f8;
  --ok: #2f8f4e; --bad: #c9372c; --warn: #b7791f; --accent: #2457a6; }
@media (prefers-color-scheme: dark) { :root { --fg: #e6e9ec; --muted: #9aa5b1; --line: #39424b; --bg: #15191d; --head: #1f252b;
  --ok: #4cc174; --bad: #f06a5f; --warn: #e3a93b; --accent: #7aa7f0; } }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; gap: 1.5rem; align-items: center; padding: .6rem 1.2rem; border-bottom: 1px solid var(--line); background: var(--head); flex-wrap: wrap; }
header .brand { font-weight: 700; }
header nav a { margin-right: 1rem; color: var(--fg); text-decoration: none; }
header nav a.active { color: var(--accent); font-weight: 600; border-bottom: 2px solid var(--accent); }
header .access { margin-left: auto; display: flex; gap: .8rem; align-items: center; font-size: 12px; }
.badge { padding: .1rem .45rem; border-radius: .6rem; border: 1px solid var(--line); font-size: 12px; white-space: nowrap; }
.badge.ok, .badge.succeeded, .badge.running { color: var(--ok); border-color: var(--ok); }
.badge.bad, .badge.failed, .badge.dead, .badge.timed_out, .badge.lost, .badge.stale { color: var(--bad); border-color: var(--bad); }
.badge.warn, .badge.draining, .badge.scheduled, .badge.starting, .badge.cancelled { color: var(--warn); border-color: var(--warn); }
main { padding: 1rem 1.2rem 3rem; max-width: 1400px; }
h1 { font-size: 1.3rem; margin: .2rem 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.6rem 0 .5rem; }
table { border-collapse: collapse; width: 100%; margin: .3rem 0 1rem; }
th, td { text-align: left; padding: .3rem .55rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--head); font-weight: 600; white-space: nowrap; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
a { color: var(--accent); }
.muted { color: var(--muted); }
.flash { margin: .8rem 1.2rem 0; padding: .5rem .8rem; border: 1px solid var(--ok); border-radius: .3rem; }
.flash.error { border-color: var(--bad); }
form.filters { display: flex; gap: .6rem; flex-wrap: wrap; align-items: end; margin-bottom: .8rem; }
form.filters label { display: flex; flex-direction: column; font-size: 12px; color: var(--muted); }
input, select, button { font: inherit; padding: .2rem .4rem; }
form.inline { display: inline; margin: 0; }
button.act { cursor: pointer; }
.nowrap { white-space: nowrap; }
td.actions form { display: block; margin-bottom: .25rem; }
td.actions button { white-space: nowrap; }
#cron time { white-space: nowrap; }
.skipped { color: var(--muted); text-decoration: line-through; }
pre { background: var(--head); padding: .6rem; overflow: auto; max-height: 30rem; white-space: pre-wrap; word-break: break-all; }
.charts { display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 1rem; }
figure { margin: 0; border: 1px solid var(--line); padding: .5rem; }
figcaption { font-size: 12px; color: var(--muted); margin-bottom: .3rem; }
svg.chart { width: 100%; height: auto; display: block; }
svg .ok { fill: var(--ok); } svg .bad { fill: var(--bad); } svg .rate { fill: none; stroke: var(--bad); stroke-width: 1.5; }
svg .axis { stroke: var(--line); } svg text { fill: var(--muted); font-size: 10px; }
.pager { display: flex; gap: 1rem; }
dl.fields { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dl.fields dt { color: var(--muted); }
`;

/**
 * Live refresh by polling: every few seconds the page fetches its own URL and
 * swaps in the new <main>, unless the tab is hidden, live refresh is switched
 * off, or someone is typing in a form. Forms marked data-confirm ask first.
 */
export const SCRIPT = `
(() => {
  const seconds = Number(document.body.dataset.refresh || 0);
  const live = document.getElementById("live");
  document.addEventListener("submit", (event) => {
    const message = event.target.dataset && event.target.dataset.confirm;
    if (message && !window.confirm(message)) event.preventDefault();
  });
  if (!seconds || !live) return;
  let busy = false;
  setInterval(async () => {
    const active = document.activeElement;
    if (!live.checked || document.hidden || busy || (active && active.closest && active.closest("main form"))) return;
    busy = true;
    try {
      const response = await fetch(location.href, { credentials: "same-origin", headers: { "x-pgmill-refresh": "1" } });
      if (response.ok) {
        const next = new DOMParser().parseFromString(await response.text(), "text/html").querySelector("main");
        const current = document.querySelector("main");
        if (next && current) current.replaceWith(next);
        document.getElementById("updated").textContent = "updated " + new Date().toLocaleTimeString();
      } else {
        document.getElementById("updated").textContent = "refresh failed (HTTP " + response.status + ")";
      }
    } catch (error) {
      document.getElementById("updated").textContent = "refresh failed";
    } finally {
      busy = false;
    }
  }, seconds * 1000);
})();
`;
