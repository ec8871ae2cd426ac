// Times: shown in the viewer's zone, relative where that reads faster, UTC on hover.
import { h } from './dom.js';

export const viewerZone = Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';

const absolute = new Intl.DateTimeFormat(undefined, {
  weekday: 'short', year: 'numeric', month: 'short', day: 'numeric',
  hour: '2-digit', minute: '2-digit', second: '2-digit',
});
const zoned = new Map();

export function parse(iso) {
  return iso ? new Date(iso) : null;
}

export function utc(date) {
  return `${date.toISOString().slice(0, 19).replace('T', ' ')} UTC`;
}

export function local(date) {
  return absolute.format(date);
}

// A wall-clock time in an IANA zone, e.g. "Mon, 30 Nov, 02:30".
export function inZone(date, zone) {
  let format = zoned.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat(undefined, {
      timeZone: zone, weekday: 'short', month: 'short', day: 'numeric',
      hour: '2-digit', minute: '2-digit', timeZoneName: 'short',
    });
    zoned.set(zone, format);
  }
  return format.format(date);
}

const UNITS = [
  ['d', 86400], ['h', 3600], ['min', 60], ['s', 1],
];

// "3 h 5 min": the two largest units, enough to read a period at a glance.
export function span(seconds) {
  let rest = Math.round(Math.abs(seconds));
  if (rest === 0) return '0 s';
  const parts = [];
  for (const [unit, size] of UNITS) {
    if (rest >= size && parts.length < 2) {
      parts.push(`${Math.floor(rest / size)} ${unit}`);
      rest %= size;
    } else if (parts.length) break;
  }
  return parts.join(' ');
}

// Run durations: sub-second precision where it matters.
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return '';
  if (seconds < 10) return `${seconds.toFixed(seconds < 1 ? 2 : 1)} s`;
  return span(seconds);
}

export function relative(date, now) {
  let seconds = (date.getTime() - now.getTime()) / 1000;
  if (Math.abs(seconds) < 5) return 'just now';
  // Past a minute, seconds are noise in a list that refreshes itself.
  if (Math.abs(seconds) >= 60) seconds = Math.trunc(seconds / 60) * 60;
  return seconds < 0 ? `${span(seconds)} ago` : `in ${span(seconds)}`;
}

// <time>: relative text, the viewer's local time and UTC on hover.
export function timeTag(date, now, text) {
  if (!date) return h('span', { class: 'muted', text: 'never' });
  return h('time', {
    datetime: date.toISOString(),
    title: `${local(date)} (${viewerZone})\n${utc(date)}`,
    text: text ?? relative(date, now),
  });
}
