// One check: schedule and expected times, uptime, run durations, ping log, badges, actions.
import { api } from './api.js';
import { durationChart, runs, uptimeBar } from './charts.js';
import { describe, nextFires } from './cron.js';
import { h, replace } from './dom.js';
import { statusPill } from './list.js';
import { checkId, displayName, statusWord, tagsOf } from './status.js';
import { duration, inZone, local, span, timeTag, utc, viewerZone } from './time.js';

const EXPECTED_COUNT = 5;
const PINGS_SHOWN = 20;
// Fields this page shows in their own places; anything else the API returns (fields it may
// grow later) is listed under "More fields" as it comes.
const SHOWN = new Set(['name', 'slug', 'tags', 'desc', 'grace', 'n_pings', 'status', 'started',
  'last_ping', 'next_ping', 'manual_resume', 'methods', 'subject', 'subject_fail', 'start_kw',
  'success_kw', 'failure_kw', 'filter_subject', 'filter_body', 'filter_http_body',
  'filter_default_fail', 'badge_url', 'max_duration', 'runs', 'last_duration', 'timeout',
  'schedule', 'tz', 'unique_key', 'uuid', 'ping_url', 'update_url', 'pause_url', 'resume_url',
  'channels']);

export function scheduleWords(check) {
  if (check.schedule === undefined) return `once every ${span(check.timeout)}`;
  const words = describe(check.schedule);
  return words ? `${words} (${check.tz})` : `cron ${check.schedule} (${check.tz})`;
}

// The next expected pings: the API's next_ping, then the schedule on from there.
export function expectedTimes(check, now) {
  const word = statusWord(check);
  if (word === 'paused' || word === 'new') return [];
  if (check.schedule !== undefined) {
    const from = check.next_ping && new Date(check.next_ping) > now ? new Date(new Date(check.next_ping) - 1) : now;
    return nextFires(check.schedule, check.tz, from, EXPECTED_COUNT);
  }
  if (!check.next_ping) return [];
  let next = new Date(check.next_ping).getTime();
  const step = check.timeout * 1000;
  if (next < now.getTime()) next += Math.ceil((now.getTime() - next) / step) * step;
  return Array.from({ length: EXPECTED_COUNT }, (_, i) => new Date(next + i * step));
}

export class CheckView {
  constructor(app, id) {
    this.app = app;
    this.id = id;
    this.opened = new Set(); // ping numbers whose body is expanded, kept across refreshes
    this.bodies = new Map();
  }

  async mount(root) {
    this.root = root;
    replace(root, h('p', { class: 'muted', text: 'Loading…' }));
    await this.update();
    root.querySelector('h1')?.focus();
  }

  async update() {
    const { app } = this;
    const [check, pings, flips] = await Promise.all([
      api.check(this.id),
      app.readonly ? Promise.resolve(null) : api.pings(this.id),
      api.flips(this.id),
    ]);
    this.check = check;
    const now = new Date();
    // Every focusable element here has an id, so a refresh puts the keyboard focus back.
    const focused = document.activeElement?.id;
    replace(this.root,
      this.header(check),
      h('div', { class: 'grid' },
        this.section('Overview', this.overview(check, now)),
        this.section('Expected', this.expected(check, now))),
      this.section('Uptime', [1, 7, 30].map((days) => uptimeBar(flips, check.status, days, now))),
      this.section('Run durations', pings ? durationChart(runs(pings)) : this.needsWriteKey()),
      this.section('Ping log', pings ? this.pingLog(pings, now) : this.needsWriteKey()),
      this.section('Badges', this.badges(check)),
      this.more(check));
    // Pause and Resume share one id, so the toggle keeps the focus it was pressed with; a
    // control that is gone ('Show all pings' once pressed) hands it to the title.
    if (focused) (document.getElementById(focused) ?? this.root.querySelector('h1'))?.focus({ preventScroll: true });
  }

  section(title, content) {
    const id = `section-${title.toLowerCase().replace(/\W+/g, '-')}`;
    return h('section', { class: 'card', 'aria-labelledby': id }, h('h2', { id, text: title }), content);
  }

  needsWriteKey() {
    return h('p', { class: 'muted', text: 'The API shows the ping log to read-write keys only.' });
  }

  header(check) {
    const word = statusWord(check);
    const actions = this.app.readonly ? null : h('div', { class: 'actions' },
      word === 'paused' || check.status === 'paused'
        ? h('button', { id: 'pause-toggle', type: 'button', class: 'button', text: 'Resume', onclick: () => this.act(api.resume) })
        : h('button', { id: 'pause-toggle', type: 'button', class: 'button', text: 'Pause', onclick: () => this.act(api.pause) }),
      h('a', { id: 'edit', class: 'button', href: `#/check/${encodeURIComponent(checkId(check))}/edit`, text: 'Edit' }),
      h('button', { id: 'delete', type: 'button', class: 'button danger', text: 'Delete', onclick: () => this.confirmDelete() }));
    this.message = h('p', { class: 'form-error', role: 'alert' });
    return h('div', { class: 'page-head check-head' },
      h('div', null,
        h('a', { id: 'back', class: 'back', href: '#/', text: '← All checks' }),
        h('h1', { id: 'check-title', tabindex: '-1' }, h('span', { text: displayName(check) }), ' ', statusPill(word)),
        check.desc ? h('p', { class: 'desc', text: check.desc }) : null),
      actions, this.message);
  }

  async act(change) {
    try {
      await change(this.id);
      await this.update();
      this.app.announce(`${displayName(this.check)} is ${statusWord(this.check)}`);
    } catch (error) {
      this.message.textContent = error.message;
    }
  }

  confirmDelete() {
    const check = this.check;
    const dialog = h('dialog', { class: 'confirm', 'aria-labelledby': 'confirm-title' },
      h('h2', { id: 'confirm-title', text: `Delete “${displayName(check)}”?` }),
      h('p', { text: 'Its ping log, flips and badges go with it, and pings to its URL will get 404. This cannot be undone.' }),
      h('form', { method: 'dialog', class: 'actions' },
        h('button', { value: 'cancel', class: 'button', text: 'Cancel', autofocus: true }),
        h('button', { value: 'delete', class: 'button danger', text: 'Delete check' })));
    dialog.addEventListener('close', async () => {
      dialog.remove();
      if (dialog.returnValue !== 'delete') return;
      try {
        await api.remove(this.id);
        this.app.announce(`Deleted ${displayName(check)}`);
        location.hash = '#/';
      } catch (error) {
        this.message.textContent = error.message;
      }
    });
    document.body.append(dialog);
    dialog.showModal();
  }

  overview(check, now) {
    const rows = [
      ['Schedule', scheduleWords(check)],
      ['Grace', span(check.grace)],
      ['Longest run', check.max_duration !== undefined ? span(check.max_duration) : null],
      ['Last ping', timeTag(check.last_ping ? new Date(check.last_ping) : null, now)],
      ['Next expected', check.next_ping ? timeTag(new Date(check.next_ping), now) : h('span', { class: 'muted', text: '—' })],
      ['Last run', check.last_duration !== undefined ? duration(check.last_duration) : null],
      ['Open runs', (check.runs || []).length ? check.runs.map((run) => h('div', null,
        'since ', timeTag(new Date(run.started), now), run.rid ? h('code', { class: 'rid', text: ` ${run.rid}` }) : null)) : null],
      ['Pings', String(check.n_pings)],
      ['Tags', tagsOf(check).length ? tagsOf(check).map((tag) => h('span', { class: 'tag', text: tag })) : null],
      ['Alerts', this.alerts(check)],
      ['Ping URL', check.ping_url ? h('code', { class: 'url', text: check.ping_url }) : null],
      ['Slug', check.slug || null],
      ['Only POST', check.methods === 'POST' ? 'yes: GET and HEAD pings are ignored' : null],
      ['Manual resume', check.manual_resume ? 'yes: pings are ignored while paused' : null],
      ['Body filter', check.filter_http_body ? keywords(check) : null],
    ];
    return h('dl', { class: 'facts' }, rows.filter(([, value]) => value !== null && value !== undefined)
      .map(([name, value]) => [h('dt', { text: name }), h('dd', null, value)]));
  }

  alerts(check) {
    if (typeof check.channels !== 'string') return null;
    if (!check.channels) return 'off';
    const names = check.channels.split(',').map((id) => this.app.channels.find((c) => c.id === id)?.name || id);
    return `to ${names.join(', ')}`;
  }

  expected(check, now) {
    const times = expectedTimes(check, now);
    if (!times.length) {
      const why = statusWord(check) === 'paused' ? 'Paused: no pings are expected until it is resumed or pinged.'
        : 'Expected times start with the first ping.';
      return h('p', { class: 'muted', text: why });
    }
    const zone = check.tz || 'UTC';
    const showZone = zone !== viewerZone;
    return h('table', { class: 'expected' },
      h('thead', null, h('tr', null,
        showZone ? h('th', { scope: 'col', text: `Check's zone (${zone})` }) : null,
        h('th', { scope: 'col', text: `Your zone (${viewerZone})` }))),
      h('tbody', null, times.map((time) => h('tr', null,
        showZone ? h('td', null, h('time', { datetime: time.toISOString(), title: utc(time), text: inZone(time, zone) })) : null,
        h('td', null, h('time', { datetime: time.toISOString(), title: utc(time), text: inZone(time, viewerZone) }))))));
  }

  pingLog(all, now) {
    if (!all.length) return h('p', { class: 'muted', text: 'No pings yet.' });
    const pings = this.allPings ? all : all.slice(0, PINGS_SHOWN);
    const more = all.length > pings.length ? h('button', {
      id: 'more-pings', type: 'button', class: 'button quiet more', text: `Show all ${all.length} pings`,
      onclick: () => { this.allPings = true; this.update(); },
    }) : null;
    return [h('div', { class: 'table-wrap' }, h('table', { class: 'pings' },
      h('thead', null, h('tr', null, ['#', 'Type', 'Time', 'Duration', 'Run id', 'Source', 'Body']
        .map((name) => h('th', { scope: 'col', text: name })))),
      h('tbody', null, pings.map((ping) => h('tr', { 'data-n': ping.n },
        h('td', { 'data-label': '#', text: ping.n }),
        h('td', { 'data-label': 'Type' }, h('span', { class: `ping-type ${ping.type}`, text: pingType(ping) })),
        h('td', { 'data-label': 'Time' }, timeTag(new Date(ping.date), now, local(new Date(ping.date)))),
        h('td', { 'data-label': 'Duration', text: duration(ping.duration) }),
        h('td', { 'data-label': 'Run id' }, ping.rid ? h('code', { class: 'rid', title: ping.rid, text: ping.rid.slice(0, 8) }) : ''),
        h('td', { 'data-label': 'Source', class: 'source' },
          h('span', { text: `${ping.scheme} ${ping.method} from ${ping.remote_addr || 'unknown'}` }),
          ping.ua ? h('span', { class: 'ua', text: ping.ua }) : null),
        h('td', { 'data-label': 'Body' }, ping.body_url ? this.body(ping) : '')))))), more];
  }

  body(ping) {
    const text = h('pre', { class: 'body' });
    const details = h('details', { class: 'ping-body', open: this.opened.has(ping.n) },
      h('summary', { id: `body-${ping.n}`, text: 'Show body' }), text);
    const load = async () => {
      if (!details.open) { this.opened.delete(ping.n); return; }
      this.opened.add(ping.n);
      if (!this.bodies.has(ping.n)) {
        try { this.bodies.set(ping.n, await api.body(this.id, ping.n)); } catch (error) { text.textContent = error.message; return; }
      }
      text.textContent = this.bodies.get(ping.n);
    };
    details.addEventListener('toggle', load);
    return details;
  }

  badges(check) {
    const at = check.badge_url.indexOf('/b/2/');
    if (at < 0) return h('p', { class: 'muted', text: check.badge_url });
    const key = check.badge_url.slice(at + 5, -'.svg'.length);
    const root = check.badge_url.slice(0, at);
    const variant = (states, label) => h('div', { class: 'badge' },
      h('img', { src: `b/${states}/${key}.svg`, alt: `${label} badge for ${displayName(check)}` }),
      h('span', { class: 'muted', text: label }),
      h('ul', { class: 'links' }, ['svg', 'json', 'shields'].map((format) => h('li', null,
        h('code', { text: `${root}/b/${states}/${key}.${format}` })))));
    return h('div', { class: 'badges' }, variant(2, 'up / down'), variant(3, 'up / late / down'));
  }

  more(check) {
    const extra = Object.entries(check).filter(([name]) => !SHOWN.has(name));
    if (!extra.length) return null;
    return this.section('More fields', h('dl', { class: 'facts' }, extra.map(([name, value]) => [
      h('dt', { text: name }),
      h('dd', null, value !== null && typeof value === 'object'
        ? h('pre', { class: 'json', text: JSON.stringify(value, null, 2) }) : String(value))])));
  }
}

function pingType(ping) {
  if (ping.exitstatus !== null && ping.exitstatus !== undefined) return `${ping.type} (exit ${ping.exitstatus})`;
  return ping.type === 'ign' ? 'ignored' : ping.type;
}

function keywords(check) {
  const parts = [['success', check.success_kw], ['failure', check.failure_kw], ['start', check.start_kw]]
    .filter(([, kw]) => kw).map(([kind, kw]) => `${kind}: ${kw}`);
  parts.push(check.filter_default_fail ? 'anything else fails' : 'anything else is ignored');
  return parts.join('; ');
}
