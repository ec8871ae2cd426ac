// Small SVG charts drawn from API data: run-duration sparklines and bars, and uptime bars.
import { h, svg } from './dom.js';
import { duration, local, span, utc } from './time.js';

// Completed runs, oldest first: the pings that carry a duration.
export function runs(pings) {
  return pings.filter((p) => typeof p.duration === 'number').reverse();
}

export function sparkline(points) {
  if (!points || points.length < 2) {
    const only = points && points.length === 1 ? duration(points[0].duration) : '';
    return h('span', { class: 'muted spark-empty', text: only || '—' });
  }
  const width = 96;
  const height = 24;
  const values = points.map((p) => p.duration);
  const max = Math.max(...values);
  const min = Math.min(...values);
  const range = max - min || 1;
  const step = (width - 3) / (values.length - 1);
  // Scaled between the shortest and longest run, so a change in run time shows.
  const y = (v) => (max === min ? height / 2 : height - 3 - ((v - min) / range) * (height - 6)).toFixed(1);
  const line = values.map((v, i) => `${(i * step).toFixed(1)},${y(v)}`).join(' ');
  const last = values[values.length - 1];
  const label = `${values.length} runs, last ${duration(last)}, longest ${duration(max)}`;
  return svg('svg', { class: 'spark', viewBox: `0 0 ${width} ${height}`, width, height, role: 'img', 'aria-label': label },
    svg('title', { text: label }),
    svg('polyline', { points: line, fill: 'none' }),
    svg('circle', { cx: width - 3, cy: y(last), r: 2 }));
}

const dayFormat = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const shortDate = (iso) => dayFormat.format(new Date(iso));

// One bar per completed run, failures in red; hover for when and how long.
export function durationChart(points) {
  if (!points.length) return h('p', { class: 'muted', text: 'No completed runs yet: send /start, then a success or fail ping.' });
  const width = 1000;
  const height = 200;
  const pad = 56;
  const values = points.map((p) => p.duration);
  const max = Math.max(...values) || 1;
  const slot = (width - pad) / points.length;
  const bars = points.map((p, i) => {
    const barHeight = Math.max(1, (p.duration / max) * (height - 32));
    const label = `${p.type === 'fail' ? 'failed' : 'succeeded'} after ${duration(p.duration)}, ${local(new Date(p.date))} (${utc(new Date(p.date))})`;
    return svg('rect', {
      class: p.type === 'fail' ? 'bar fail' : 'bar',
      x: (pad + i * slot + slot * 0.15).toFixed(1), width: Math.max(1, slot * 0.7).toFixed(1),
      y: (height - 16 - barHeight).toFixed(1), height: barHeight.toFixed(1),
    }, svg('title', { text: label }));
  });
  return svg('svg', { class: 'chart', viewBox: `0 0 ${width} ${height}`, role: 'img',
    'aria-label': `${points.length} run durations, longest ${duration(max)}` },
  svg('line', { class: 'axis', x1: pad, x2: width, y1: height - 16, y2: height - 16 }),
  svg('line', { class: 'grid', x1: pad, x2: width, y1: 12, y2: 12 }),
  svg('text', { class: 'axis-label', x: 0, y: 16, text: duration(max) }),
  svg('text', { class: 'axis-label', x: 0, y: height - 16, text: '0' }),
  svg('text', { class: 'axis-label', x: pad, y: height, text: shortDate(points[0].date) }),
  svg('text', { class: 'axis-label', x: width, y: height, 'text-anchor': 'end', text: shortDate(points[points.length - 1].date) }),
  ...bars);
}

// --- uptime ------------------------------------------------------------------------------

// Periods of [from, to, state] over the window, from every kept flip (newest first,
// {timestamp, up}). Before the oldest one nothing is known ("none": left out of the figure),
// unless there are no flips at all: then the check has been in its current state throughout.
// Flips to paused or new report up: 0 (as in Healthchecks), so the stretch after the newest
// flip takes the current status when that is paused or new.
export function periods(flips, status, from, to) {
  const changes = flips.map((f) => ({ at: new Date(f.timestamp).getTime(), up: !!f.up }))
    .filter((c) => c.at < to).sort((a, b) => a.at - b.at);
  const unwatched = status === 'paused' || status === 'new';
  const current = unwatched ? status : (status === 'down' ? 'down' : 'up');
  if (!changes.length) return [[from, to, current]];
  const out = [];
  let start = from;
  let state = 'none';
  for (const change of changes) {
    if (change.at > start) out.push([start, change.at, state]);
    start = Math.max(start, change.at);
    state = change.up ? 'up' : 'down';
  }
  if (!changes[changes.length - 1].up && unwatched) state = current;
  if (to > start) out.push([start, to, state]);
  return out;
}

export function uptimeBar(flips, status, days, now) {
  const to = now.getTime();
  const from = to - days * 86400e3;
  const parts = periods(flips, status, from, to);
  const known = parts.filter(([, , s]) => s === 'up' || s === 'down');
  const total = known.reduce((sum, [a, b]) => sum + (b - a), 0);
  const up = known.filter(([, , s]) => s === 'up').reduce((sum, [a, b]) => sum + (b - a), 0);
  const downtime = (total - up) / 1000;
  const percent = total ? (100 * up) / total : null;
  const text = percent === null ? 'no data' : `${percent >= 99.995 ? '100' : percent.toFixed(2)} % up`;
  const rects = parts.map(([a, b, s]) => svg('rect', {
    class: `seg ${s}`, x: (((a - from) / (to - from)) * 100).toFixed(3), y: 0,
    width: Math.max(0.2, ((b - a) / (to - from)) * 100).toFixed(3), height: 10,
  }, svg('title', { text: `${s === 'none' ? 'no data' : s} ${local(new Date(a))} – ${local(new Date(b))} (${span((b - a) / 1000)})` })));
  return h('div', { class: 'uptime' },
    h('span', { class: 'uptime-label', text: days === 1 ? 'Last 24 hours' : `Last ${days} days` }),
    svg('svg', { class: 'uptime-bar', viewBox: '0 0 100 10', preserveAspectRatio: 'none', role: 'img',
      'aria-label': `${text} over the last ${days} days` }, ...rects),
    h('span', { class: 'uptime-value', text: downtime > 0 ? `${text} · down ${span(downtime)}` : text }));
}
