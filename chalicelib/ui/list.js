// The checks at a glance: counts by status, filters, one row per check.
import { h, replace } from './dom.js';
import { sparkline } from './charts.js';
import { ORDER, checkId, displayName, statusWord, tagsOf } from './status.js';
import { timeTag } from './time.js';

export function statusPill(word) {
  return h('span', { class: `status ${word}` }, h('span', { class: 'dot', 'aria-hidden': 'true' }), word);
}

export class ListView {
  constructor(app) {
    this.app = app;
    this.filter = { text: '', tag: '', sort: 'status' };
  }

  mount(root) {
    const { app } = this;
    this.counts = h('ul', { class: 'counts', 'aria-label': 'Checks by status' });
    this.text = h('input', { id: 'filter-text', type: 'search', placeholder: 'Name, slug or tag', oninput: () => this.change() });
    this.tag = h('select', { id: 'filter-tag', onchange: () => this.change() });
    this.sort = h('select', { id: 'sort', onchange: () => this.change() },
      h('option', { value: 'status', text: 'Status (worst first)' }),
      h('option', { value: 'name', text: 'Name' }),
      h('option', { value: 'last_ping', text: 'Last ping (latest first)' }));
    this.body = h('tbody');
    // Ping logs (for sparklines) are fetched only for rows that come on screen.
    this.observer = new IntersectionObserver((entries) => {
      const ids = entries.filter((e) => e.isIntersecting).map((e) => e.target.dataset.runs);
      if (ids.length) this.app.loadRuns(ids);
    }, { rootMargin: '200px' });
    this.empty = h('p', { class: 'empty', hidden: true });
    replace(root,
      h('div', { class: 'page-head' },
        h('h1', { tabindex: '-1', text: 'Checks' }),
        app.readonly ? null : h('a', { class: 'button primary', href: '#/new', text: 'New check' })),
      this.counts,
      h('div', { class: 'filters' },
        h('div', { class: 'field grow' }, h('label', { for: 'filter-text', text: 'Filter' }), this.text),
        h('div', { class: 'field' }, h('label', { for: 'filter-tag', text: 'Tag' }), this.tag),
        h('div', { class: 'field' }, h('label', { for: 'sort', text: 'Sort by' }), this.sort)),
      h('div', { class: 'table-wrap' },
        h('table', { class: 'checks' },
          h('caption', { class: 'visually-hidden', text: 'Checks' }),
          h('thead', null, h('tr', null,
            ['Status', 'Name', 'Tags', 'Last ping', 'Next expected', 'Run durations']
              .map((name) => h('th', { scope: 'col', text: name })))),
          this.body)),
      this.empty);
    this.update();
  }

  change() {
    this.filter = { text: this.text.value.trim().toLowerCase(), tag: this.tag.value, sort: this.sort.value };
    this.update();
  }

  update() {
    const { checks } = this.app;
    const now = new Date();
    this.renderCounts(checks);
    this.renderTags(checks);
    const shown = this.sorted(checks.filter((c) => this.matches(c)));
    const focused = this.focusedCheck();
    replace(this.body, shown.map((check) => this.row(check, now)));
    // Rows are rebuilt on every refresh and sparkline load; a keyboard user keeps their place.
    if (focused) this.body.querySelector(`tr[data-check="${CSS.escape(focused)}"] a`)?.focus({ preventScroll: true });
    this.observer.disconnect();
    for (const cell of this.body.querySelectorAll('[data-runs]')) this.observer.observe(cell);
    this.empty.hidden = shown.length > 0;
    this.empty.textContent = checks.length
      ? 'No check matches the filter.'
      : (this.app.readonly ? 'This project has no checks yet.' : 'No checks yet. Create one, then ping its URL from your job.');
  }

  // The check whose row holds the keyboard focus, if any.
  focusedCheck() {
    const active = document.activeElement;
    return active && this.body.contains(active) ? active.closest('tr')?.dataset.check : null;
  }

  renderCounts(checks) {
    const counts = Object.fromEntries(ORDER.map((word) => [word, 0]));
    for (const check of checks) counts[statusWord(check)] += 1;
    replace(this.counts,
      h('li', { class: 'count total' }, h('strong', { text: checks.length }), ' checks'),
      ORDER.filter((word) => counts[word]).map((word) => h('li', { class: `count ${word}`, 'data-status': word },
        h('span', { class: 'dot', 'aria-hidden': 'true' }), h('strong', { text: counts[word] }), ` ${word}`)));
  }

  renderTags(checks) {
    const tags = [...new Set(checks.flatMap(tagsOf))].sort();
    const chosen = tags.includes(this.filter.tag) ? this.filter.tag : '';
    replace(this.tag, h('option', { value: '', text: 'All tags' }), tags.map((tag) => h('option', { value: tag, text: tag })));
    this.tag.value = chosen;
    this.filter.tag = chosen;
  }

  matches(check) {
    const { text, tag } = this.filter;
    if (tag && !tagsOf(check).includes(tag)) return false;
    if (!text) return true;
    return [check.name, check.slug, check.tags, check.desc].some((v) => (v || '').toLowerCase().includes(text));
  }

  sorted(checks) {
    const byName = (a, b) => displayName(a).localeCompare(displayName(b));
    const rank = (c) => ORDER.indexOf(statusWord(c));
    const last = (c) => (c.last_ping ? new Date(c.last_ping).getTime() : 0);
    const compare = {
      status: (a, b) => rank(a) - rank(b) || byName(a, b),
      name: byName,
      last_ping: (a, b) => last(b) - last(a) || byName(a, b),
    }[this.filter.sort];
    return [...checks].sort(compare);
  }

  row(check, now) {
    const word = statusWord(check);
    const next = check.next_ping ? new Date(check.next_ping) : null;
    const waiting = { new: 'after the first ping', paused: 'paused', down: 'when it pings again' }[word];
    const nextCell = waiting || !next ? h('span', { class: 'muted', text: waiting || '—' }) : timeTag(next, now);
    return h('tr', { 'data-check': checkId(check), 'data-status': word },
      h('td', { class: 'c-status', 'data-label': 'Status' }, statusPill(word)),
      h('td', { class: 'name c-name', 'data-label': 'Name' },
        h('a', { href: `#/check/${encodeURIComponent(checkId(check))}`, text: displayName(check) }),
        check.name && check.slug && check.slug !== check.name ? h('span', { class: 'slug', text: check.slug }) : null),
      h('td', { class: 'c-tags', 'data-label': 'Tags' }, tagsOf(check).map((tag) => h('span', { class: 'tag', text: tag }))),
      h('td', { class: 'c-last', 'data-label': 'Last ping' }, timeTag(check.last_ping ? new Date(check.last_ping) : null, now)),
      h('td', { class: 'c-next', 'data-label': 'Next expected' }, nextCell),
      h('td', { 'data-label': 'Run durations', class: 'c-spark', 'data-runs': this.app.runsAreStale(check) ? checkId(check) : null },
        this.spark(check)));
  }

  spark(check) {
    if (this.app.readonly) {
      return check.last_duration !== undefined ? h('span', { class: 'muted', text: `last ${check.last_duration} s` }) : h('span', { class: 'muted', text: '—' });
    }
    const points = this.app.runsOf(check);
    return points ? sparkline(points) : h('span', { class: 'muted', text: '…' });
  }
}
