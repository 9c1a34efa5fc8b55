// Dates, numbers and money formatted for the language in use (Intl).

import { lang } from './i18n.js';

const cache = new Map();
function formatter(kind, options) {
  const key = `${lang()}|${kind}|${JSON.stringify(options)}`;
  if (!cache.has(key)) {
    cache.set(
      key,
      kind === 'date' ? new Intl.DateTimeFormat(lang(), options) : new Intl.NumberFormat(lang(), options),
    );
  }
  return cache.get(key);
}

/** A number (integer or decimal string) for people. */
export function number(value, digits = 0) {
  if (value === null || value === undefined || value === '') return '—';
  return formatter('number', { maximumFractionDigits: digits, minimumFractionDigits: 0 }).format(Number(value));
}

/** Money (a decimal string or number) in its currency, CNY by default; cents only when there are any. */
export function money(value, currency = 'CNY') {
  if (value === null || value === undefined || value === '') return '—';
  const amount = Number(value);
  const digits = Number.isInteger(amount) ? 0 : 2;
  return formatter('number', {
    style: 'currency',
    currency: currency || 'CNY',
    minimumFractionDigits: digits,
    maximumFractionDigits: digits,
  }).format(amount);
}

/** A ratio (0.42) as a percentage. */
export function percent(ratio, digits = 0) {
  if (ratio === null || ratio === undefined || Number.isNaN(Number(ratio))) return '—';
  return formatter('number', { style: 'percent', maximumFractionDigits: digits }).format(Number(ratio));
}

/** A date (ISO date or date-time). */
export function date(value) {
  if (!value) return '—';
  const parsed = new Date(value.length === 10 ? `${value}T00:00:00` : value);
  return formatter('date', { year: 'numeric', month: 'short', day: 'numeric' }).format(parsed);
}

/** A date and time. */
export function dateTime(value) {
  if (!value) return '—';
  return formatter('date', { year: 'numeric', month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' }).format(
    new Date(value),
  );
}

/** How far `value` is from now ("in 3 hours", "2 days ago"). */
export function relative(value) {
  if (!value) return '—';
  const seconds = (new Date(value).getTime() - Date.now()) / 1000;
  const units = [
    ['day', 86400],
    ['hour', 3600],
    ['minute', 60],
  ];
  const rtf = new Intl.RelativeTimeFormat(lang(), { numeric: 'auto' });
  for (const [unit, size] of units) {
    if (Math.abs(seconds) >= size || unit === 'minute') return rtf.format(Math.round(seconds / size), unit);
  }
  return '';
}
