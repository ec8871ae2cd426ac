// Vigil's dashboard: sign-in, routing between the list, one check and the form, and the
// periodic refresh. Plain ES modules, no build step; the API is the one this page is served by.
import { api, session } from './api.js';
import { runs } from './charts.js';
import { h, replace } from './dom.js';
import { ListView } from './list.js';
import { checkId } from './status.js';

// The check page and the form (with the cron reader) load when first opened, not with the list.
const checkPage = () => import('./check.js');
const formPage = () => import('./form.js');

const REFRESH_MS = 15_000;
const PING_FETCHES_AT_ONCE = 4;

const $ = (id) => document.getElementById(id);

class App {
  constructor() {
    this.checks = [];
    this.channels = [];
    this.readonly = false;
    this.runCache = new Map(); // check id -> { n_pings, points }: refetched when n_pings moves
    this.runQueue = [];
    this.runWorkers = 0;
    this.view = null;
    this.live = h('p', { class: 'visually-hidden', 'aria-live': 'polite' });
    this.error = h('p', { class: 'banner', role: 'alert', hidden: true });
    document.body.append(this.live);
    $('main').prepend(this.error);
  }

  start() {
    $('signin-form').addEventListener('submit', (event) => {
      event.preventDefault();
      this.signIn($('api-key').value.trim());
    });
    $('sign-out').addEventListener('click', () => this.signOut());
    // A #key= link can also be opened in a tab that already shows the page.
    window.addEventListener('hashchange', () => this.keyFromFragment() || this.route());
    document.addEventListener('visibilitychange', () => { if (!document.hidden) this.refresh(); });
    if (this.keyFromFragment()) return;
    if (session.key) {
      this.signIn(session.key);
    } else {
      this.showSignIn();
    }
  }

  // Sign in with the key in a #key=<key> fragment, if there is one.
  keyFromFragment() {
    const fragment = /^#key=(.+)$/.exec(location.hash);
    if (!fragment) return false;
    // The fragment never reaches a server; drop it from the address bar and history too.
    history.replaceState(null, '', `${location.pathname}${location.search}#/`);
    this.signIn(decodeURIComponent(fragment[1]));
    return true;
  }

  showSignIn(message = '') {
    clearInterval(this.timer);
    $('session').hidden = true;
    $('signin').hidden = false;
    replace($('view'));
    $('signin-error').textContent = message;
    $('api-key').toggleAttribute('aria-invalid', !!message);
    $('api-key').focus();
    performance.mark('vigil:first-render');
  }

  async signIn(key) {
    if (!key) { this.showSignIn('Enter an API key.'); return; }
    session.key = key;
    try {
      this.checks = await api.checks();
    } catch (error) {
      session.clear();
      this.showSignIn(`${error.message} (HTTP ${error.status})`);
      return;
    }
    // A read-only key sees unique_key instead of uuid; with no checks, its prefix tells.
    this.readonly = this.checks.length ? !('uuid' in this.checks[0]) : key.startsWith('hcr_');
    this.channels = this.readonly ? [] : await api.channels().catch(() => []);
    $('signin').hidden = true;
    $('api-key').value = '';
    $('session').hidden = false;
    $('role').textContent = this.readonly ? 'Read-only key' : 'Read-write key';
    clearInterval(this.timer);
    this.timer = setInterval(() => this.refresh(), REFRESH_MS);
    await this.route();
  }

  signOut() {
    session.clear();
    this.checks = [];
    this.runCache.clear();
    history.replaceState(null, '', `${location.pathname}${location.search}`);
    this.showSignIn();
  }

  async route() {
    if (!session.key) return;
    const path = location.hash.replace(/^#\/?/, '');
    const parts = path.split('/').map(decodeURIComponent);
    let view;
    try {
      if (parts[0] === 'check' && parts[1] && parts[2] === 'edit' && !this.readonly) view = new (await formPage()).FormView(this, parts[1]);
      else if (parts[0] === 'check' && parts[1]) view = new (await checkPage()).CheckView(this, parts[1]);
      else if (parts[0] === 'new' && !this.readonly) view = new (await formPage()).FormView(this, null);
      else view = new ListView(this);
      this.view = view;
      await view.mount($('view'));
      this.showError(null);
    } catch (error) {
      this.fail(error);
    }
    performance.mark('vigil:first-render');
  }

  async refresh() {
    if (!session.key || document.hidden || !this.view || this.view.editing) return;
    try {
      if (this.view instanceof ListView) {
        this.checks = await api.checks();
        this.view.update();
      } else {
        await this.view.update();
      }
      this.showError(null);
    } catch (error) {
      this.fail(error);
    }
  }

  fail(error) {
    if (error.status === 401) { session.clear(); this.showSignIn(`${error.message} (HTTP 401)`); return; }
    this.showError(error.status ? `${error.message} (HTTP ${error.status})` : error.message);
  }

  showError(message) {
    this.error.hidden = !message;
    this.error.textContent = message || '';
  }

  announce(message) {
    this.live.textContent = message;
  }

  // Completed run durations per check for the sparklines, from each check's ping log (read-write
  // keys only): fetched for rows on screen, a few at a time, and again only after new pings.
  runsOf(check) {
    if (!check.n_pings) return [];
    return this.runCache.get(checkId(check))?.points;
  }

  runsAreStale(check) {
    return !this.readonly && check.n_pings > 0 && this.runCache.get(checkId(check))?.n_pings !== check.n_pings;
  }

  loadRuns(ids) {
    for (const id of ids) if (!this.runQueue.includes(id)) this.runQueue.push(id);
    while (this.runWorkers < PING_FETCHES_AT_ONCE && this.runQueue.length) {
      this.runWorkers += 1;
      this.runWorker().finally(() => {
        this.runWorkers -= 1;
        if (!this.runWorkers && this.view instanceof ListView) this.view.update();
      });
    }
  }

  async runWorker() {
    for (let id = this.runQueue.shift(); id; id = this.runQueue.shift()) {
      const check = this.checks.find((c) => checkId(c) === id);
      if (!check || !this.runsAreStale(check)) continue;
      let points = [];
      try {
        points = check.n_pings ? runs(await api.pings(id)).slice(-20) : [];
      } catch { /* no sparkline for this one until its next ping; the list still shows */ }
      this.runCache.set(id, { n_pings: check.n_pings, points });
    }
  }
}

new App().start();
