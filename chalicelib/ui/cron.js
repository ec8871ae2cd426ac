// Cron expressions as the server reads them (chalicelib/schedule.py, Debian cron semantics):
// parsed here to put a schedule in words and list its next expected times in the check's zone.
// Jobs whose minute or hour field starts with "*" fire at every real instant that matches;
// fixed-time jobs fire once in a repeated hour and at the end of a skipped one.

const MONTHS = ['', 'JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'];
const DAYS = ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'];
const MONTH_NAMES = ['', 'January', 'February', 'March', 'April', 'May', 'June', 'July',
  'August', 'September', 'October', 'November', 'December'];
const DAY_NAMES = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const LIMITS = [[0, 59], [0, 23], [1, 31], [1, 12], [0, 7]];
const NAMES = [null, null, null, MONTHS, DAYS];
const MINUTE = 60e3;
const MAX_DAYS = 366 * 21; // five fires of a 29 February job span up to 20 years

function value(field, text) {
  if (/^\d+$/.test(text)) return Number(text);
  const index = NAMES[field] ? NAMES[field].indexOf(text) : -1;
  if (index <= 0 && !(field === 4 && index === 0)) throw new Error(`bad value ${text}`);
  return index;
}

function term(field, text, into, special) {
  const [lo, hi] = LIMITS[field];
  if (field === 2 && text === 'L') { special.lastDay = true; return; }
  const weekday = field === 4 && /^([A-Z]{3}|\d+)(?:#(\d)|L)$/.exec(text);
  if (weekday) {
    const day = value(4, weekday[1]) % 7;
    if (weekday[2]) special.nth.push([day, Number(weekday[2])]);
    else special.last.push(day);
    return;
  }
  const match = /^(?:\*|([A-Z]{3}|\d+)(?:-([A-Z]{3}|\d+))?)(?:\/(\d+))?$/.exec(text);
  if (!match) throw new Error(`bad term ${text}`);
  const step = match[3] ? Number(match[3]) : 1;
  let from = lo;
  let to = hi;
  if (match[1] !== undefined) {
    from = value(field, match[1]);
    to = match[2] !== undefined ? value(field, match[2]) : (match[3] ? hi : from);
  }
  if (step < 1 || from < lo || to > hi || from > to) throw new Error(`bad range ${text}`);
  for (let v = from; v <= to; v += step) into.add(field === 4 ? v % 7 : v);
}

// The expression's sets, or null if it is not one this page can read.
export function parse(expr) {
  const fields = String(expr || '').toUpperCase().trim().split(/\s+/);
  if (fields.length !== 5) return null;
  const special = { lastDay: false, nth: [], last: [] };
  try {
    const sets = fields.map((text, field) => {
      const into = new Set();
      for (const part of text.split(',')) term(field, part, into, special);
      return into;
    });
    return {
      fields,
      minutes: [...sets[0]].sort((a, b) => a - b),
      hours: [...sets[1]].sort((a, b) => a - b),
      days: sets[2],
      months: sets[3],
      weekdays: sets[4],
      ...special,
      // Debian cron: a leading "*" in either day field makes both apply (AND), else either.
      dayAnd: fields[2].startsWith('*') || fields[4].startsWith('*'),
      wildcard: fields[0].startsWith('*') || fields[1].startsWith('*'),
    };
  } catch {
    return null;
  }
}

function dayMatches(cron, year, month, day) {
  if (!cron.months.has(month)) return false;
  const weekday = new Date(Date.UTC(year, month - 1, day)).getUTCDay();
  const lastDay = new Date(Date.UTC(year, month, 0)).getUTCDate();
  const byDate = cron.days.has(day) || (cron.lastDay && day === lastDay);
  const byWeekday = cron.weekdays.has(weekday)
    || cron.nth.some(([d, n]) => d === weekday && Math.ceil(day / 7) === n)
    || cron.last.some((d) => d === weekday && day + 7 > lastDay);
  return cron.dayAnd ? byDate && byWeekday : byDate || byWeekday;
}

// --- wall clocks in a zone -----------------------------------------------------------------

const formats = new Map();

function wall(instant, zone) {
  let format = formats.get(zone);
  if (!format) {
    format = new Intl.DateTimeFormat('en-US', {
      timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric',
      hour: 'numeric', minute: 'numeric',
    });
    formats.set(zone, format);
  }
  const parts = {};
  for (const part of format.formatToParts(instant)) parts[part.type] = Number(part.value);
  return Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute);
}

function offset(instant, zone) {
  return wall(instant, zone) - Math.floor(instant / MINUTE) * MINUTE;
}

// The instants at which the zone's clock shows this wall time: none (skipped), one, or two.
function occurrences(wallTime, zone) {
  const found = [];
  for (const probe of [wallTime - 14 * 3600e3, wallTime + 14 * 3600e3]) {
    const instant = wallTime - offset(probe, zone);
    if (wall(instant, zone) === wallTime && !found.includes(instant)) found.push(instant);
  }
  return found.sort((a, b) => a - b);
}

function fixedInstant(wallTime, zone) {
  let at = wallTime;
  for (let guard = 0; guard < 24 * 60; guard += 1, at += MINUTE) {
    const found = occurrences(at, zone);
    if (found.length) return found[0];
  }
  return null;
}

function firesOn(cron, dayStart, zone) {
  const fires = [];
  for (const hour of cron.hours) {
    for (const minute of cron.minutes) {
      const wallTime = dayStart + hour * 3600e3 + minute * MINUTE;
      if (cron.wildcard) fires.push(...occurrences(wallTime, zone));
      else {
        const instant = fixedInstant(wallTime, zone);
        if (instant !== null) fires.push(instant);
      }
    }
  }
  return fires;
}

// The next `count` fires strictly after `after` (a Date), as Dates; [] if unreadable.
export function nextFires(expr, zone, after, count) {
  const cron = parse(expr);
  if (!cron) return [];
  const start = after.getTime();
  const first = new Date(wall(start, zone));
  let day = Date.UTC(first.getUTCFullYear(), first.getUTCMonth(), first.getUTCDate()) - 86400e3;
  const found = [];
  let extraDays = -1;
  for (let n = 0; n < MAX_DAYS && extraDays < 1; n += 1, day += 86400e3) {
    const date = new Date(day);
    if (dayMatches(cron, date.getUTCFullYear(), date.getUTCMonth() + 1, date.getUTCDate())) {
      for (const instant of firesOn(cron, day, zone)) if (instant > start) found.push(instant);
    }
    // One more day once enough are found: a clock set back can put an earlier instant there.
    if (found.length >= count) extraDays += 1;
  }
  return [...new Set(found)].sort((a, b) => a - b).slice(0, count).map((t) => new Date(t));
}

// --- words -----------------------------------------------------------------------------------

const pad = (n) => String(n).padStart(2, '0');

function list(items) {
  if (items.length <= 1) return items.join('');
  return `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

function timeWords(cron) {
  const [minute, hour] = cron.fields;
  const { minutes, hours } = cron;
  const step = /^\*\/(\d+)$/;
  if (minute === '*' && hour === '*') return 'every minute';
  if (step.test(minute) && hour === '*') return `every ${step.exec(minute)[1]} minutes`;
  if (minutes.length === 1 && hour === '*') return `every hour at :${pad(minutes[0])}`;
  if (minutes.length === 1 && step.test(hour)) {
    return `every ${step.exec(hour)[1]} hours at :${pad(minutes[0])}`;
  }
  if (step.test(minute) && /^\d+-\d+$/.test(hour)) {
    return `every ${step.exec(minute)[1]} minutes from ${pad(hours[0])}:00 to ${pad(hours[hours.length - 1])}:59`;
  }
  if (minutes.length * hours.length <= 6 && !cron.wildcard) {
    return `at ${list(hours.flatMap((hh) => minutes.map((mm) => `${pad(hh)}:${pad(mm)}`)))}`;
  }
  return `at minute ${minute.toLowerCase()} of hour ${hour.toLowerCase()}`;
}

function weekdayWords(field) {
  const named = field.replace(/[A-Z]{3}/g, (name) => String(DAYS.indexOf(name)));
  if (named === '1-5') return 'on weekdays';
  if (named === '0,6' || named === '6,0') return 'on weekends';
  return `on ${named.split(',').map((part) => {
    const nth = /^(\d)#(\d)$/.exec(part);
    if (nth) return `the ${['', 'first', 'second', 'third', 'fourth', 'fifth'][nth[2]]} ${DAY_NAMES[nth[1] % 7]}`;
    const last = /^(\d)L$/.exec(part);
    if (last) return `the last ${DAY_NAMES[last[1] % 7]}`;
    const range = /^(\d)-(\d)$/.exec(part);
    if (range) return `${DAY_NAMES[range[1] % 7]} to ${DAY_NAMES[range[2] % 7]}`;
    return /^\d$/.test(part) ? DAY_NAMES[part % 7] : part.toLowerCase();
  }).join(', ')}`;
}

function dayWords(cron) {
  const [, , dom, month, dow] = cron.fields;
  const parts = [];
  const byDate = dom === 'L' ? 'on the last day of the month' : `on day ${dom.toLowerCase()} of the month`;
  if (dom === '*' && dow === '*') parts.push('every day');
  else if (dom === '*' || dom.startsWith('*')) parts.push(weekdayWords(dow));
  else if (dow === '*' || dow.startsWith('*')) parts.push(byDate);
  else parts.push(`${byDate} or ${weekdayWords(dow)}`);
  if (month !== '*') {
    const names = [...cron.months].sort((a, b) => a - b).map((m) => MONTH_NAMES[m]);
    parts.push(`in ${list(names)}`);
  }
  return parts.join(' ');
}

// "at 02:30 every day", "every 15 minutes on weekdays"; null if unreadable.
export function describe(expr) {
  const cron = parse(expr);
  if (!cron) return null;
  const time = timeWords(cron);
  const days = dayWords(cron);
  return time.startsWith('every') && days === 'every day' ? time : `${time} ${days}`;
}
