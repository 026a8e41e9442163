import { html, type Html } from "./html.js";
import type { Bucket } from "./overview-queries.js";

// Charts as inline SVG rendered on the server: no chart library, no script.

const WIDTH = 600;
const HEIGHT = 130;
const PAD = { left: 34, bottom: 16, top: 6 };

/** Stacked bars of succeeded (bottom) and failed (top) attempts per bucket. */
export function throughputChart(buckets: readonly Bucket[], label: (start: Date) => string): Html {
  const max = Math.max(1, ...buckets.map((b) => b.succeeded + b.failed));
  const plotHeight = HEIGHT - PAD.bottom - PAD.top;
  const step = (WIDTH - PAD.left) / Math.max(1, buckets.length);
  const bar = Math.max(1, step - 1);
  const y = (count: number) => (count / max) * plotHeight;
  const bars = buckets.map((b, i) => {
    const x = PAD.left + i * step;
    const ok = y(b.succeeded);
    const bad = y(b.failed);
    const title = `${label(b.start)}: ${b.succeeded} succeeded, ${b.failed} failed`;
    return html`<g><title>${title}</title>
      <rect class="ok" x="${x.toFixed(1)}" y="${(HEIGHT - PAD.bottom - ok).toFixed(1)}" width="${bar.toFixed(1)}" height="${ok.toFixed(1)}"></rect>
      <rect class="bad" x="${x.toFixed(1)}" y="${(HEIGHT - PAD.bottom - ok - bad).toFixed(1)}" width="${bar.toFixed(1)}" height="${bad.toFixed(1)}"></rect></g>`;
  });
  return frame(bars, String(max), buckets, label);
}

/** The share of attempts that did not succeed, per bucket, as a line (buckets without attempts are skipped). */
export function failureRateChart(buckets: readonly Bucket[], label: (start: Date) => string): Html {
  const plotHeight = HEIGHT - PAD.bottom - PAD.top;
  const step = (WIDTH - PAD.left) / Math.max(1, buckets.length);
  const points = buckets
    .map((b, i) => ({ b, i, total: b.succeeded + b.failed }))
    .filter((p) => p.total > 0)
    .map(({ b, i, total }) => ({
      x: PAD.left + i * step + step / 2,
      y: HEIGHT - PAD.bottom - (b.failed / total) * plotHeight,
      title: `${label(b.start)}: ${((b.failed / total) * 100).toFixed(1)}% of ${total} failed`,
    }));
  const line = points.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(" ");
  const dots = points.map((p) => html`<circle class="bad" cx="${p.x.toFixed(1)}" cy="${p.y.toFixed(1)}" r="2"><title>${p.title}</title></circle>`);
  return frame([html`<polyline class="rate" points="${line}"></polyline>`, dots], "100%", buckets, label);
}

function frame(content: unknown[], top: string, buckets: readonly Bucket[], label: (start: Date) => string): Html {
  const first = buckets[0];
  const last = buckets.at(-1);
  return html`<svg class="chart" viewBox="0 0 ${WIDTH} ${HEIGHT}" role="img" xmlns="http://www.w3.org/2000/svg">
    <line class="axis" x1="${PAD.left}" y1="${HEIGHT - PAD.bottom}" x2="${WIDTH}" y2="${HEIGHT - PAD.bottom}"></line>
    <line class="axis" x1="${PAD.left}" y1="${PAD.top}" x2="${PAD.left}" y2="${HEIGHT - PAD.bottom}"></line>
    <text x="${PAD.left - 4}" y="${PAD.top + 8}" text-anchor="end">${top}</text>
    <text x="${PAD.left - 4}" y="${HEIGHT - PAD.bottom}" text-anchor="end">0</text>
    ${first ? html`<text x="${PAD.left}" y="${HEIGHT - 3}">${label(first.start)}</text>` : ""}
    ${last ? html`<text x="${WIDTH}" y="${HEIGHT - 3}" text-anchor="end">${label(last.start)}</text>` : ""}
    ${content}
  </svg>`;
}
