// A check's status as one word, and the order the list sorts them in (worst first).
export const ORDER = ['down', 'late', 'started', 'up', 'new', 'paused'];

export function statusWord(check) {
  if (check.status === 'down' || check.status === 'paused') return check.status;
  if (check.started) return 'started';
  return check.status === 'grace' ? 'late' : check.status;
}

export const checkId = (check) => check.uuid || check.unique_key;

export const displayName = (check) => check.name || check.slug || 'unnamed';

export const tagsOf = (check) => (check.tags || '').split(' ').filter(Boolean);
