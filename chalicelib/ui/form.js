// Create or edit a check. The API validates; its error text is shown at the field it names.
import { ApiError, api } from './api.js';
import { describe } from './cron.js';
import { h, replace } from './dom.js';
import { checkId, displayName } from './status.js';
import { viewerZone } from './time.js';

const UNITS = [['seconds', 1], ['minutes', 60], ['hours', 3600], ['days', 86400]];
const DEFAULTS = { timeout: 86400, grace: 3600 };

function bestUnit(seconds) {
  return [...UNITS].reverse().find(([, size]) => seconds % size === 0) || UNITS[0];
}

export class FormView {
  constructor(app, id) {
    this.app = app;
    this.id = id; // null: a new check
    this.editing = true; // the periodic refresh leaves a form alone
  }

  async mount(root) {
    const check = this.id ? await api.check(this.id) : null;
    this.check = check;
    this.fields = {};
    this.errors = {};
    this.touched = new Set();
    const cron = check ? check.schedule !== undefined : false;
    this.kind = h('fieldset', { class: 'kind' }, h('legend', { text: 'Schedule' }),
      this.radio('simple', 'Every period', !cron), this.radio('cron', 'Cron expression', cron));
    this.words = h('p', { class: 'hint', id: 'schedule-words' });
    this.formError = h('p', { class: 'form-error', role: 'alert' });
    const zones = h('datalist', { id: 'zones' },
      (Intl.supportedValuesOf ? Intl.supportedValuesOf('timeZone') : []).map((zone) => h('option', { value: zone })));
    this.form = h('form', { class: 'card check-form', novalidate: true, onsubmit: (event) => this.submit(event) },
      this.text('name', 'Name', check?.name ?? ''),
      this.text('slug', 'Slug', check?.slug ?? '', 'Lowercase letters, digits, - and _; pings can use /ping/<ping key>/<slug>.'),
      this.text('tags', 'Tags', check?.tags ?? '', 'Separated by spaces.'),
      this.text('desc', 'Description', check?.desc ?? '', null, 'textarea'),
      this.kind,
      h('div', { class: 'when simple-only' }, this.period('timeout', 'Period', check?.timeout ?? DEFAULTS.timeout, 'How often the job pings.')),
      h('div', { class: 'when cron-only' },
        this.text('schedule', 'Cron expression', check?.schedule ?? '0 * * * *', null, 'input', this.words),
        this.text('tz', 'Time zone', check?.tz ?? viewerZone, 'IANA name, e.g. Europe/Riga.', 'input', null, { list: 'zones' })),
      this.period('grace', 'Grace', check?.grace ?? DEFAULTS.grace, 'How late a ping may be before the check goes down.'),
      this.period('max_duration', 'Longest run', check?.max_duration ?? check?.grace ?? DEFAULTS.grace,
        'A run (from /start) open longer than this is an overrun: the check goes down. New checks default to the grace.'),
      this.box('alerts', 'Send alerts to the SNS topic', check ? check.channels !== '' : true),
      this.box('methods', 'Only POST pings count (GET and HEAD are ignored)', check?.methods === 'POST'),
      this.box('manual_resume', 'Once paused, ignore pings until resumed here', !!check?.manual_resume),
      this.formError,
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'button primary', text: check ? 'Save' : 'Create check' }),
        h('a', { class: 'button', href: check ? `#/check/${encodeURIComponent(checkId(check))}` : '#/', text: 'Cancel' })),
      zones);
    replace(root,
      h('div', { class: 'page-head' }, h('div', null,
        h('a', { class: 'back', href: check ? `#/check/${encodeURIComponent(checkId(check))}` : '#/', text: check ? `← ${displayName(check)}` : '← All checks' }),
        h('h1', { tabindex: '-1', text: check ? `Edit ${displayName(check)}` : 'New check' }))),
      this.form);
    this.fields.schedule.addEventListener('input', () => this.showWords());
    this.showKind();
    this.showWords();
    root.querySelector('h1').focus();
  }

  radio(value, label, checked) {
    const id = `kind-${value}`;
    const input = h('input', { type: 'radio', name: 'kind', id, value, checked, onchange: () => this.showKind() });
    return h('label', { class: 'choice', for: id }, input, ` ${label}`);
  }

  showKind() {
    const cron = this.form.querySelector('#kind-cron').checked;
    for (const el of this.form.querySelectorAll('.cron-only')) el.hidden = !cron;
    for (const el of this.form.querySelectorAll('.simple-only')) el.hidden = cron;
  }

  showWords() {
    const words = describe(this.fields.schedule.value);
    this.words.textContent = words ? `Runs ${words}.` : 'Five fields: minute hour day-of-month month day-of-week.';
  }

  field(name, label, control, help, extra) {
    const error = h('p', { class: 'field-error', id: `error-${name}`, role: 'alert' });
    this.errors[name] = error;
    const helpId = help ? `help-${name}` : null;
    control.setAttribute('aria-describedby', [helpId, `error-${name}`].filter(Boolean).join(' '));
    return h('div', { class: 'field' }, h('label', { for: `field-${name}`, text: label }), control,
      extra || null, help ? h('p', { class: 'hint', id: helpId, text: help }) : null, error);
  }

  text(name, label, value, help, tag = 'input', extra = null, attrs = {}) {
    const control = h(tag, { id: `field-${name}`, name, spellcheck: 'false', ...attrs });
    control.value = value;
    this.fields[name] = control;
    return this.field(name, label, control, help, extra);
  }

  period(name, label, seconds, help) {
    const [unit, size] = bestUnit(seconds);
    const amount = h('input', { id: `field-${name}`, name, type: 'number', min: '1', step: 'any', inputmode: 'decimal' });
    amount.value = String(seconds / size);
    const units = h('select', { 'aria-label': `${label} unit`, id: `unit-${name}` },
      UNITS.map(([u, s]) => h('option', { value: String(s), text: u })));
    units.value = String(size);
    for (const control of [amount, units]) control.addEventListener('input', () => this.touched.add(name));
    this.fields[name] = { get value() { return Math.round(Number(amount.value) * Number(units.value)); }, control: amount };
    return this.field(name, label, amount, help, units);
  }

  box(name, label, checked) {
    const input = h('input', { type: 'checkbox', id: `field-${name}`, name, checked });
    this.fields[name] = input;
    return h('div', { class: 'field' }, h('label', { class: 'choice', for: `field-${name}` }, input, ` ${label}`));
  }

  spec() {
    const f = this.fields;
    const spec = {
      name: f.name.value.trim(), slug: f.slug.value.trim(), tags: f.tags.value.trim(), desc: f.desc.value,
      grace: f.grace.value, max_duration: f.max_duration.value,
      channels: f.alerts.checked ? '*' : '', methods: f.methods.checked ? 'POST' : '',
      manual_resume: f.manual_resume.checked,
    };
    // Left alone on a new check, the API's default applies: as long as the grace.
    if (!this.check && !this.touched.has('max_duration')) delete spec.max_duration;
    if (this.form.querySelector('#kind-cron').checked) {
      spec.schedule = f.schedule.value.trim();
      spec.tz = f.tz.value.trim();
    } else {
      spec.timeout = f.timeout.value;
    }
    return spec;
  }

  async submit(event) {
    event.preventDefault();
    for (const [name, error] of Object.entries(this.errors)) {
      error.textContent = '';
      (this.fields[name].control || this.fields[name]).removeAttribute?.('aria-invalid');
    }
    this.formError.textContent = '';
    try {
      const saved = this.check ? await api.update(this.id, this.spec()) : await api.create(this.spec());
      this.app.announce(`${this.check ? 'Saved' : 'Created'} ${displayName(saved)}`);
      location.hash = `#/check/${encodeURIComponent(checkId(saved))}`;
    } catch (error) {
      this.showError(error);
    }
  }

  showError(error) {
    const name = error instanceof ApiError ? error.field : null;
    const target = name && this.errors[name];
    if (!target) { this.formError.textContent = error.message; return; }
    target.textContent = error.message;
    const control = this.fields[name].control || this.fields[name];
    control.setAttribute('aria-invalid', 'true');
    control.focus();
  }
}
