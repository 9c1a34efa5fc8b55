// Building the page: elements made with `h` (text is always set as text,
// never parsed as HTML), problem details shown in the chosen language,
// tables, form fields with labels, and a confirmation dialog.

import { Problem } from './api.js';
import { has, t } from './i18n.js';

/**
 * An element. `attrs`: attributes, `on*` functions as listeners, `class`,
 * `dataset`; children: nodes, strings, numbers, arrays, null (skipped).
 */
export function h(tag, attrs, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      element.addEventListener(name.slice(2).toLowerCase(), value);
    } else if (name === 'dataset') {
      Object.assign(element.dataset, value);
    } else if (value === true) {
      element.setAttribute(name, '');
    } else {
      element.setAttribute(name, String(value));
    }
  }
  append(element, children);
  return element;
}

function append(parent, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(parent, child);
    else parent.append(child instanceof Node ? child : String(child));
  }
}

/** The problem's text in the chosen language, with its detail and field violations. */
export function problemView(error) {
  const problem = error instanceof Problem ? error : new Problem(0, { detail: String(error) });
  const key = `problem.${problem.code}`;
  const headline = has(key) ? t(key) : problem.title || t('error.title');
  return h(
    'div',
    { class: 'problem', role: 'alert', dataset: { code: problem.code, status: String(problem.status) } },
    h('strong', null, headline),
    problem.detail ? h('p', { class: 'detail' }, problem.detail) : null,
    problem.violations.length
      ? h(
          'ul',
          null,
          problem.violations.map((v) => h('li', null, t('error.field', { field: v.field, message: v.message }))),
        )
      : null,
    h('p', { class: 'code' }, `${problem.status || ''} ${problem.code}`),
  );
}

/** A whole page saying it cannot be shown (the API's 403/404 for this caller). */
export function problemPage(error) {
  return h('section', { class: 'page problem-page' }, h('h1', null, t('error.page')), problemView(error));
}

/** A table: `columns` of `{ label, cell(row) -> node|string, numeric?, sort? }`. */
export function table(columns, rows, options = {}) {
  return h(
    'table',
    { class: options.class || 'grid' },
    options.caption ? h('caption', null, options.caption) : null,
    h(
      'thead',
      null,
      h(
        'tr',
        null,
        columns.map((column) =>
          h(
            'th',
            { scope: 'col', class: column.numeric ? 'num' : null, 'aria-sort': column.ariaSort },
            column.header || column.label,
          ),
        ),
      ),
    ),
    h(
      'tbody',
      null,
      rows.length
        ? rows.map((row) =>
            h(
              'tr',
              null,
              columns.map((column) => h('td', { class: column.numeric ? 'num' : null }, column.cell(row))),
            ),
          )
        : h('tr', null, h('td', { colspan: columns.length, class: 'empty' }, t('common.none'))),
    ),
  );
}

let fieldCount = 0;

/** A labelled control: `control` is an input/select/textarea element. */
export function field(label, control, hint) {
  fieldCount += 1;
  const id = control.id || `f${fieldCount}`;
  control.id = id;
  return h(
    'div',
    { class: 'field' },
    h('label', { for: id }, label),
    control,
    hint ? h('small', { class: 'hint' }, hint) : null,
  );
}

/** A select of `options` (`[value, label]` pairs) with `selected`. */
export function select(name, options, selected) {
  return h(
    'select',
    { name },
    options.map(([value, label]) => h('option', { value, selected: String(value) === String(selected ?? '') }, label)),
  );
}

/** Asks to confirm; resolves true or false. */
export function confirmDialog(title, message, confirmLabel = t('common.confirm')) {
  return new Promise((resolve) => {
    const dialog = h(
      'dialog',
      { class: 'confirm', 'aria-labelledby': 'confirm-title' },
      h('h2', { id: 'confirm-title' }, title),
      h('p', null, message),
      h(
        'div',
        { class: 'buttons' },
        h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close('cancel') }, t('common.cancel')),
        h('button', { type: 'button', class: 'primary', onclick: () => dialog.close('confirm') }, confirmLabel),
      ),
    );
    dialog.addEventListener('close', () => {
      dialog.remove();
      resolve(dialog.returnValue === 'confirm');
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** A short notice that goes away by itself. */
export function notice(text) {
  const toast = h('div', { class: 'toast', role: 'status' }, text);
  document.body.append(toast);
  setTimeout(() => toast.remove(), 4000);
}

/** A badge: `tone` is ok, warn, bad or muted. */
export function badge(text, tone = 'muted') {
  return h('span', { class: `badge ${tone}` }, text);
}

/** A card with a heading. */
export function card(title, ...body) {
  return h('section', { class: 'card' }, h('h2', null, title), ...body);
}

/**
 * "Load more" for a cursor-paged list: while there is a `cursor`, a button
 * (`data-testid` = `testid`) that fetches `load(cursor)`, hands the page's
 * items to `onItems` and moves on to its `next_cursor`; a refusal shows
 * beside the button, which stays for another try.
 */
export function loadMore(cursor, load, onItems, testid) {
  const slot = h('div', { class: 'more' });
  const show = (next) => {
    if (!next) {
      slot.replaceChildren();
      return;
    }
    const button = h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        'data-testid': testid,
        onclick: async () => {
          button.disabled = true;
          try {
            const page = await load(next);
            onItems(page.items);
            show(page.next_cursor);
          } catch (error) {
            button.disabled = false;
            slot.append(problemView(error));
          }
        },
      },
      t('common.more'),
    );
    slot.replaceChildren(button);
  };
  show(cursor);
  return slot;
}
