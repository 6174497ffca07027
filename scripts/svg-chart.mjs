// A small SVG chart module for the benchmark report: horizontal grouped bar
// charts and log-log scatter plots with lines (rooflines). Plain strings, no
// DOM, deterministic output (fixed decimals), so regenerated files only change
// when the data does.

const PALETTE = ['#4e79a7', '#f28e2b', '#59a14f', '#e15759', '#76b7b2', '#b07aa1', '#edc948', '#9c755f'];
const FONT = 'font-family="Helvetica, Arial, sans-serif"';

const esc = (s) =>
  String(s).replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const n = (v) => (Math.round(v * 10) / 10).toString();

function text(x, y, s, { size = 11, anchor = 'start', weight = 'normal', fill = '#222', rotate } = {}) {
  const transform = rotate != null ? ` transform="rotate(${rotate} ${n(x)} ${n(y)})"` : '';
  return (
    `<text x="${n(x)}" y="${n(y)}" ${FONT} font-size="${size}" text-anchor="${anchor}" ` +
    `font-weight="${weight}" fill="${fill}"${transform}>${esc(s)}</text>`
  );
}

function header(width, height, title, subtitle) {
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    text(12, 20, title, { size: 14, weight: 'bold' }),
    subtitle ? text(12, 37, subtitle, { size: 11, fill: '#555' }) : '',
  ];
}

function legend(series, x, y) {
  const parts = [];
  let at = x;
  for (const s of series) {
    parts.push(`<rect x="${n(at)}" y="${n(y - 9)}" width="10" height="10" fill="${s.color}"/>`);
    parts.push(text(at + 14, y, s.name));
    at += 24 + 6.5 * s.name.length;
  }
  return parts;
}

/** "Nice" tick values covering [lo, hi]. */
function ticks(lo, hi, count = 6) {
  const span = hi - lo || 1;
  const raw = span / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((s) => span / s <= count) ?? 10 * mag;
  const out = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step)
    out.push(Number(v.toPrecision(12)));
  return out;
}

/**
 * Horizontal grouped bars: one group per category, one bar per series.
 * `reference` draws a vertical line (e.g. 1 for ratios); missing values (null) leave a gap.
 */
export function barChart({
  title,
  subtitle,
  categories,
  series,
  unit = '',
  reference,
  width = 820,
  labelWidth,
}) {
  const colored = series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length] }));
  const barH = 10;
  const groupH = colored.length * barH + 8;
  const left = labelWidth ?? Math.min(300, 16 + 6.2 * Math.max(...categories.map((c) => String(c).length)));
  const top = 62;
  const plotW = width - left - 70;
  const height = top + categories.length * groupH + 40;
  const values = colored.flatMap((s) => s.values).filter((v) => v != null && Number.isFinite(v));
  const hi = Math.max(reference ?? 0, ...values) * 1.05 || 1;
  const x = (v) => left + (v / hi) * plotW;
  const out = header(width, height, title, subtitle);
  out.push(...legend(colored, left, 54));
  for (const t of ticks(0, hi)) {
    out.push(`<line x1="${n(x(t))}" y1="${top - 4}" x2="${n(x(t))}" y2="${height - 34}" stroke="#e5e5e5"/>`);
    out.push(text(x(t), height - 20, `${t}${unit}`, { size: 10, anchor: 'middle', fill: '#555' }));
  }
  categories.forEach((c, i) => {
    const y0 = top + i * groupH;
    out.push(text(left - 6, y0 + groupH / 2 + 3, c, { size: 10, anchor: 'end' }));
    colored.forEach((s, j) => {
      const v = s.values[i];
      if (v == null || !Number.isFinite(v)) return;
      const y = y0 + j * barH;
      out.push(
        `<rect x="${left}" y="${n(y)}" width="${n(Math.max(0.5, x(v) - left))}" height="${barH - 1}" fill="${s.color}"/>`,
      );
      out.push(text(x(v) + 3, y + barH - 2, v.toFixed(2), { size: 9, fill: '#444' }));
    });
  });
  if (reference != null) {
    out.push(
      `<line x1="${n(x(reference))}" y1="${top - 4}" x2="${n(x(reference))}" y2="${height - 34}" ` +
        'stroke="#222" stroke-dasharray="4 3"/>',
    );
  }
  out.push('</svg>');
  return out.filter(Boolean).join('\n') + '\n';
}

/** Log-log plot: `lines` are polylines (rooflines), `series` are point sets. */
export function logLogChart({
  title,
  subtitle,
  xLabel,
  yLabel,
  lines = [],
  series,
  width = 820,
  height = 520,
}) {
  const colored = series.map((s, i) => ({ ...s, color: s.color ?? PALETTE[i % PALETTE.length] }));
  const all = [...lines.flatMap((l) => l.points), ...colored.flatMap((s) => s.points)].filter(
    (p) => p.x > 0 && p.y > 0,
  );
  const [xLo, xHi] = [Math.min(...all.map((p) => p.x)), Math.max(...all.map((p) => p.x))];
  const [yLo, yHi] = [Math.min(...all.map((p) => p.y)), Math.max(...all.map((p) => p.y))];
  const dx = [Math.floor(Math.log10(xLo)), Math.ceil(Math.log10(xHi))];
  const dy = [Math.floor(Math.log10(yLo)), Math.ceil(Math.log10(yHi))];
  const [left, top, right, bottom] = [80, 64, 20, 50];
  const x = (v) => left + ((Math.log10(v) - dx[0]) / (dx[1] - dx[0] || 1)) * (width - left - right);
  const y = (v) =>
    height - bottom - ((Math.log10(v) - dy[0]) / (dy[1] - dy[0] || 1)) * (height - top - bottom);
  const out = header(width, height, title, subtitle);
  out.push(...legend([...lines.map((l) => ({ ...l, color: l.color ?? '#222' })), ...colored], left, 54));
  for (let d = dx[0]; d <= dx[1]; d++) {
    out.push(
      `<line x1="${n(x(10 ** d))}" y1="${top}" x2="${n(x(10 ** d))}" y2="${height - bottom}" stroke="#e5e5e5"/>`,
    );
    out.push(text(x(10 ** d), height - bottom + 14, `1e${d}`, { size: 10, anchor: 'middle', fill: '#555' }));
  }
  for (let d = dy[0]; d <= dy[1]; d++) {
    out.push(
      `<line x1="${left}" y1="${n(y(10 ** d))}" x2="${width - right}" y2="${n(y(10 ** d))}" stroke="#e5e5e5"/>`,
    );
    out.push(text(left - 6, y(10 ** d) + 3, `1e${d}`, { size: 10, anchor: 'end', fill: '#555' }));
  }
  out.push(text((left + width - right) / 2, height - 12, xLabel, { anchor: 'middle' }));
  out.push(text(16, (top + height - bottom) / 2, yLabel, { anchor: 'middle', rotate: -90 }));
  for (const l of lines) {
    const pts = l.points.map((p) => `${n(x(p.x))},${n(y(p.y))}`).join(' ');
    out.push(`<polyline points="${pts}" fill="none" stroke="${l.color ?? '#222'}" stroke-width="1.5"/>`);
  }
  for (const s of colored) {
    for (const p of s.points) {
      out.push(
        `<circle cx="${n(x(p.x))}" cy="${n(y(p.y))}" r="3.5" fill="${s.color}" fill-opacity="0.8">` +
          `<title>${esc(p.label ?? '')}</title></circle>`,
      );
    }
  }
  out.push('</svg>');
  return out.filter(Boolean).join('\n') + '\n';
}
