// The admin section (系统管理), for admins only: users and their login
// sessions, the org (branches, teams and who leads them), the tiering
// settings with the tier proposals waiting, the insight settings with the
// latest sweeps, and the product catalogue. Every render first reads an
// admin-only endpoint, so any other role sees the API's 403 as the page.
//
// data-testid (for the browser tests):
//   admin-nav             sub-navigation; links #/admin/<section>, the open one aria-current="page"
//   admin-alert           where a refused row action (or "load more") shows the API's problem (.problem[data-code])
//   form-dialog           a dialog with a form (reset password, team managers, product edit);
//                         its submit button is dialog-submit
//   users:    users-filter (form: role, active), users-table, user-row (data-username, data-active),
//             users-more, user-sessions, user-reset-password (dialog field `password`),
//             user-deactivate (data-action deactivate|reactivate; deactivating asks to confirm),
//             user-revoke-sessions (asks to confirm), sessions (card, data-username), sessions-table,
//             session-row (data-device), session-revoke (asks to confirm),
//             user-create (form: username, display_name, role, team_id, branch_id, password)
//   org:      org-tree, branches-table, branch-row (data-name), branch-create (form: name),
//             teams-table, team-row (data-name), team-managers (dialog of checkboxes `manager_id`),
//             team-create (form: name, branch_id, checkboxes `manager_id`)
//   tiering:  tiering-form (inputs weights.<score>, thresholds.<tier>), tier-proposals-table,
//             tier-proposal-row (data-id), tier-proposals-more
//   insight:  insight-form (inputs <group>.<setting>; a stale save shows 412 precondition_failed),
//             insight-version, sweeps-table, sweep-row (data-node)
//   products: products-filter (form: q, active), products-table, product-row (data-code, data-active),
//             products-more, product-edit (dialog: code, name, unit, list_price, currency, description),
//             product-deactivate (data-action deactivate|reactivate),
//             product-create (form: code, name, unit, list_price, currency, description)
// Forms show the API's refusal inside them (problemView) and mark each field
// a violation names (aria-invalid and a .field-error line under it).

import * as api from '../api.js';
import * as format from '../format.js';
import { has, lang, register, t } from '../i18n.js';
import { badge, card, confirmDialog, field, h, loadMore, notice, problemView, select, table } from '../ui.js';

export const title = 'admin.title';

const SECTIONS = ['users', 'org', 'tiering', 'insight', 'products'];
const ROLES = ['admin', 'director', 'manager', 'rep', 'service'];
const PAGE_SIZE = 50;

const TIERING = [
  [
    'weights',
    ['need', 'purchasing_power', 'loyalty', 'size', 'strategic_value'].map((key) => [key, { min: 0, step: 'any' }]),
  ],
  [
    'thresholds',
    [
      ['strategic', { min: 0, max: 100 }],
      ['key', { min: 0, max: 100 }],
    ],
  ],
];

const INSIGHT = [
  ['cadence', ['strategic', 'key', 'standard', 'untiered'].map((key) => [key, { min: 1, max: 366 }])],
  [
    'visits',
    [
      ['onsite_completion_requires_check', { kind: 'bool' }],
      ['targets_count_effective_only', { kind: 'bool' }],
      ['overdue_after_hours', { min: 0, max: 720 }],
    ],
  ],
  [
    'warnings',
    [
      ['low_satisfaction_at_most', { min: 1, max: 5 }],
      ['satisfaction_period_days', { min: 7, max: 366 }],
      ['satisfaction_drop', { min: 0.1, max: 4, step: 0.1 }],
      ['lost_opportunity_days', { min: 1, max: 366 }],
      ['contract_ending_days', { min: 1, max: 366 }],
      ['revenue_period_days', { min: 30, max: 730 }],
      ['revenue_drop_percent', { min: 1, max: 100 }],
    ],
  ],
  [
    'health',
    [
      ['critical_penalty', { min: 0, max: 100 }],
      ['warning_penalty', { min: 0, max: 100 }],
      ['info_penalty', { min: 0, max: 100 }],
      ['watch_below', { min: 1, max: 100 }],
      ['at_risk_below', { min: 1, max: 100 }],
    ],
  ],
];

let controlCount = 0;
function nextId() {
  controlCount += 1;
  return `admin-c${controlCount}`;
}

/** The If-Match of a record whose version is its ETag (users, products). */
function etagOf(record) {
  return `"${record.version}"`;
}

function text(form, name) {
  return form.elements.namedItem(name).value.trim();
}

function orNull(value) {
  return value === '' ? null : value;
}

function numberOrNull(value) {
  return value === '' ? null : Number(value);
}

function names(records) {
  const byId = new Map(records.map((record) => [record.id, record.name]));
  return (id) => (id ? byId.get(id) ?? '—' : '—');
}

function list(items) {
  return items.length ? new Intl.ListFormat(lang(), { type: 'conjunction' }).format(items) : '—';
}

function checkField(label, control) {
  control.id = control.id || nextId();
  return h('div', { class: 'field check' }, control, h('label', { for: control.id }, label));
}

/** A button on a table row; its accessible name also names the row's record. */
function rowButton(label, testid, subject, onclick, attrs = {}) {
  return h(
    'button',
    { type: 'button', 'data-testid': testid, 'aria-label': `${label} ${subject}`, onclick, ...attrs },
    label,
  );
}

/** ui.table with test ids on the table and its rows. */
function grid(testid, columns, rows, rowTestid, rowData) {
  const element = table(columns, rows);
  element.setAttribute('data-testid', testid);
  if (rows.length) {
    [...element.tBodies[0].rows].forEach((tr, i) => {
      tr.setAttribute('data-testid', rowTestid);
      Object.assign(tr.dataset, rowData(rows[i]));
    });
  }
  return element;
}

/** A table of a cursor-paged list with a "load more" button. */
function paged(path, query, first, draw, testid) {
  const items = [...first.items];
  const holder = h('div', { class: 'table-wrap' }, draw(items));
  const more = loadMore(
    first.next_cursor,
    (cursor) => api.get(path, { ...query, limit: PAGE_SIZE, cursor }),
    (page) => {
      items.push(...page);
      holder.replaceChildren(draw(items));
    },
    testid,
  );
  return h('div', null, holder, more);
}

// Forms: a refusal shows in the form, and on each field a violation names.

function clearMarks(form) {
  form.querySelectorAll('.field-error').forEach((node) => node.remove());
  form.querySelectorAll('[aria-invalid]').forEach((node) => {
    node.removeAttribute('aria-invalid');
    node.removeAttribute('aria-describedby');
  });
}

/** The control (or fieldset) named by a violation's dotted path, or its nearest parent. */
function controlFor(form, path) {
  for (let name = path; name; name = name.includes('.') ? name.slice(0, name.lastIndexOf('.')) : '') {
    const found = form.elements.namedItem(name);
    if (found instanceof Element) return found;
  }
  return null;
}

function markFields(form, violations) {
  for (const violation of violations) {
    const control = controlFor(form, violation.field);
    if (!control) continue;
    // The API words its messages in English; other languages get the code's label when there is one.
    const key = `admin.violation.${violation.code}`;
    const words = lang() !== 'en' && has(key) ? t(key) : violation.message;
    const message = h('p', { class: 'field-error', id: nextId() }, words);
    control.setAttribute('aria-invalid', 'true');
    const described = control.getAttribute('aria-describedby');
    control.setAttribute('aria-describedby', described ? `${described} ${message.id}` : message.id);
    if (control.tagName === 'FIELDSET') control.append(message);
    else (control.closest('.field') || control.parentElement).append(message);
  }
}

/**
 * Sends `form` with `work(form)` (which answers the notice to show) and then
 * `after()`; a refusal stays in the form.
 */
function onSubmit(form, slot, work, after) {
  form.addEventListener('submit', async (event) => {
    event.preventDefault();
    const buttons = form.querySelectorAll('button[type="submit"]');
    clearMarks(form);
    slot.replaceChildren();
    buttons.forEach((button) => {
      button.disabled = true;
    });
    let done;
    try {
      done = await work(form);
    } catch (error) {
      slot.replaceChildren(problemView(error));
      if (error instanceof api.Problem) markFields(form, error.violations);
      return;
    } finally {
      buttons.forEach((button) => {
        button.disabled = false;
      });
    }
    notice(done);
    after();
  });
}

/** A form that writes through the API and re-renders the page after. */
function writeForm(ctx, testid, submitLabel, fields, work) {
  const slot = h('div');
  const form = h(
    'form',
    { class: 'admin-form', novalidate: true, 'data-testid': testid },
    fields,
    slot,
    h('div', { class: 'buttons' }, h('button', { type: 'submit', class: 'primary' }, submitLabel)),
  );
  onSubmit(form, slot, work, () => ctx.refresh());
  return form;
}

/** A modal form that writes through the API, closes and re-renders the page. */
function formDialog(ctx, heading, fields, submitLabel, work) {
  const headingId = nextId();
  const slot = h('div');
  const dialog = h('dialog', {
    class: 'confirm admin-dialog',
    'aria-labelledby': headingId,
    'data-testid': 'form-dialog',
  });
  const form = h(
    'form',
    { class: 'admin-form', novalidate: true },
    h('h2', { id: headingId }, heading),
    fields,
    slot,
    h(
      'div',
      { class: 'buttons' },
      h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close() }, t('common.cancel')),
      h('button', { type: 'submit', class: 'primary', 'data-testid': 'dialog-submit' }, submitLabel),
    ),
  );
  onSubmit(form, slot, work, () => {
    dialog.close();
    ctx.refresh();
  });
  dialog.append(form);
  // Leaving the page (the back button, a link) closes the dialog with it.
  const leave = () => dialog.close();
  window.addEventListener('hashchange', leave);
  dialog.addEventListener('close', () => {
    window.removeEventListener('hashchange', leave);
    dialog.remove();
  });
  document.body.append(dialog);
  dialog.showModal();
}

/** A row action: asks first when `question` ([title, message, label]) is given; a refusal shows in `alert`. */
async function rowAction(ctx, alert, question, work) {
  if (question && !(await confirmDialog(...question))) return;
  alert.replaceChildren();
  try {
    notice(await work());
    ctx.refresh();
  } catch (error) {
    alert.replaceChildren(problemView(error));
    alert.scrollIntoView({ block: 'nearest' });
  }
}

/** Fieldsets of numeric and yes/no settings named `group.key`, with `prefix` for their labels. */
function settingsFields(prefix, groups, values) {
  return groups.map(([group, settings]) =>
    h(
      'fieldset',
      { name: group },
      h('legend', null, t(`${prefix}.${group}`)),
      h(
        'div',
        { class: 'field-grid' },
        settings.map(([key, spec]) => {
          const name = `${group}.${key}`;
          const label = t(`${prefix}.${name}`);
          const value = values[group][key];
          if (spec.kind === 'bool') return checkField(label, h('input', { type: 'checkbox', name, checked: value }));
          const control = h('input', {
            type: 'number',
            name,
            value,
            min: spec.min,
            max: spec.max,
            step: spec.step ?? 1,
            required: true,
          });
          return field(label, control, spec.max === undefined ? t('admin.atLeast', spec) : t('admin.range', spec));
        }),
      ),
    ),
  );
}

function readSettings(form, groups) {
  return Object.fromEntries(
    groups.map(([group, settings]) => [
      group,
      Object.fromEntries(
        settings.map(([key, spec]) => {
          const control = form.elements.namedItem(`${group}.${key}`);
          return [key, spec.kind === 'bool' ? control.checked : numberOrNull(control.value.trim())];
        }),
      ),
    ]),
  );
}

// Users.

async function usersSection(ctx, alert) {
  const filter = { role: ctx.query.get('role') || '', active: ctx.query.get('active') || '' };
  const [first, teams, branches] = await Promise.all([
    api.get('/users', { ...filter, limit: PAGE_SIZE }),
    api.get('/teams'),
    api.get('/branches'),
  ]);
  const teamName = names(teams);
  const branchName = names(branches);
  const sessions = h('div', { class: 'admin-slot' });

  const columns = [
    {
      label: t('admin.users.username'),
      cell: (user) => [
        h('strong', null, user.username),
        user.id === ctx.me.id ? [' ', badge(t('admin.users.you'), 'muted')] : null,
      ],
    },
    { label: t('admin.users.displayName'), cell: (user) => user.display_name },
    { label: t('admin.users.role'), cell: (user) => t(`role.${user.role}`) },
    { label: t('admin.users.team'), cell: (user) => teamName(user.team_id) },
    { label: t('admin.users.branch'), cell: (user) => branchName(user.branch_id) },
    {
      label: t('common.status'),
      cell: (user) =>
        user.active ? badge(t('admin.active'), 'ok') : badge(t('admin.inactive'), 'muted'),
    },
    {
      label: t('common.actions'),
      cell: (user) =>
        h(
          'div',
          { class: 'row-actions' },
          rowButton(t('admin.users.sessions'), 'user-sessions', user.username, () =>
            showSessions(alert, sessions, user),
          ),
          rowButton(t('admin.users.resetPassword'), 'user-reset-password', user.username, () =>
            resetPassword(ctx, user),
          ),
          rowButton(
            user.active ? t('admin.users.deactivate') : t('admin.users.reactivate'),
            'user-deactivate',
            user.username,
            () =>
              rowAction(
                ctx,
                alert,
                user.active
                  ? [
                      t('admin.users.deactivate'),
                      t('admin.users.deactivateConfirm', { name: user.display_name }),
                      t('admin.users.deactivate'),
                    ]
                  : null,
                async () => {
                  await api.patch(`/users/${user.id}`, { active: !user.active }, etagOf(user));
                  return t(user.active ? 'admin.users.deactivated' : 'admin.users.reactivated', {
                    username: user.username,
                  });
                },
              ),
            { class: user.active ? 'danger' : null, 'data-action': user.active ? 'deactivate' : 'reactivate' },
          ),
          rowButton(t('admin.users.revokeSessions'), 'user-revoke-sessions', user.username, () =>
            rowAction(
              ctx,
              alert,
              [
                t('admin.users.revokeSessions'),
                t(user.id === ctx.me.id ? 'admin.users.revokeSelf' : 'admin.users.revokeConfirm', {
                  name: user.display_name,
                }),
                t('admin.sessions.revoke'),
              ],
              async () => {
                const { data } = await api.call('POST', `/users/${user.id}/sessions/revoke`, { body: {} });
                return t('admin.sessions.revoked', { count: data.revoked });
              },
            ),
          ),
        ),
    },
  ];

  const filters = h(
    'form',
    {
      class: 'filters',
      'data-testid': 'users-filter',
      onsubmit: (event) => {
        event.preventDefault();
        const form = event.currentTarget;
        ctx.navigate('/admin/users', { role: text(form, 'role'), active: text(form, 'active') });
      },
    },
    field(
      t('admin.users.role'),
      select('role', [['', t('common.all')], ...ROLES.map((role) => [role, t(`role.${role}`)])], filter.role),
    ),
    field(t('common.status'), activeSelect(filter.active)),
    h('button', { type: 'submit' }, t('common.filter')),
  );

  const create = writeForm(
    ctx,
    'user-create',
    t('common.create'),
    h('div', { class: 'field-grid' }, [
      field(
        t('admin.users.username'),
        h('input', { name: 'username', autocomplete: 'off', required: true }),
        t('admin.users.usernameHint'),
      ),
      field(t('admin.users.displayName'), h('input', { name: 'display_name', required: true, maxlength: 200 })),
      field(t('admin.users.role'), select('role', ROLES.map((role) => [role, t(`role.${role}`)]), 'rep')),
      field(
        t('admin.users.team'),
        select('team_id', [['', t('admin.noneChosen')], ...teams.map((team) => [team.id, team.name])], ''),
        t('admin.users.teamHint'),
      ),
      field(
        t('admin.users.branch'),
        select(
          'branch_id',
          [['', t('admin.users.wholeOrg')], ...branches.map((branch) => [branch.id, branch.name])],
          '',
        ),
        t('admin.users.branchHint'),
      ),
      field(
        t('admin.users.password'),
        h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true }),
        t('admin.passwordHint'),
      ),
    ]),
    async (form) => {
      const username = text(form, 'username');
      await api.call('POST', '/users', {
        body: {
          username,
          display_name: text(form, 'display_name'),
          role: text(form, 'role'),
          team_id: orNull(text(form, 'team_id')),
          branch_id: orNull(text(form, 'branch_id')),
          password: form.elements.namedItem('password').value,
        },
      });
      return t('admin.users.created', { username });
    },
  );

  return h(
    'div',
    { class: 'admin-stack' },
    card(
      t('admin.users.heading'),
      filters,
      h('p', { class: 'hint' }, t('admin.sessions.pick')),
      paged(
        '/users',
        filter,
        first,
        (users) =>
          grid('users-table', columns, users, 'user-row', (user) => ({
            username: user.username,
            active: String(user.active),
          })),
        'users-more',
      ),
    ),
    sessions,
    card(t('admin.users.new'), create),
  );
}

function activeSelect(selected) {
  return select(
    'active',
    [
      ['', t('common.all')],
      ['true', t('admin.active')],
      ['false', t('admin.inactive')],
    ],
    selected,
  );
}

function resetPassword(ctx, user) {
  formDialog(
    ctx,
    t('admin.users.resetTitle', { name: user.display_name }),
    [
      h('p', null, t('admin.users.resetNote')),
      field(
        t('admin.users.newPassword'),
        h('input', { name: 'password', type: 'password', autocomplete: 'new-password', required: true }),
        t('admin.passwordHint'),
      ),
    ],
    t('admin.users.resetPassword'),
    async (form) => {
      await api.patch(`/users/${user.id}`, { password: form.elements.namedItem('password').value }, etagOf(user));
      return t('admin.users.passwordReset', { username: user.username });
    },
  );
}

function sessionReason(reason) {
  const key = `admin.sessions.reason.${reason}`;
  return has(key) ? t(key) : reason || t('admin.sessions.ended');
}

/** Loads a user's sessions into `slot`, each open one with a revoke button. */
async function showSessions(alert, slot, user) {
  alert.replaceChildren();
  let sessions;
  try {
    sessions = await api.get(`/users/${user.id}/sessions`);
  } catch (error) {
    alert.replaceChildren(problemView(error));
    return;
  }
  const revoke = async (session) => {
    const question = [
      t('admin.sessions.revoke'),
      t('admin.sessions.revokeDevice', { device: session.device_id, name: user.display_name }),
      t('admin.sessions.revoke'),
    ];
    if (!(await confirmDialog(...question))) return;
    try {
      const { data } = await api.call('POST', `/users/${user.id}/sessions/revoke`, {
        body: { device_id: session.device_id },
      });
      notice(t('admin.sessions.revoked', { count: data.revoked }));
      await showSessions(alert, slot, user);
    } catch (error) {
      alert.replaceChildren(problemView(error));
    }
  };
  const columns = [
    { label: t('admin.sessions.device'), cell: (session) => h('code', null, session.device_id) },
    { label: t('admin.sessions.created'), cell: (session) => format.dateTime(session.created_at) },
    { label: t('admin.sessions.lastUsed'), cell: (session) => format.dateTime(session.last_used_at) },
    {
      label: t('common.status'),
      cell: (session) =>
        session.revoked_at
          ? [badge(sessionReason(session.revoked_reason), 'muted'), ' ', format.dateTime(session.revoked_at)]
          : badge(t('admin.sessions.open'), 'ok'),
    },
    {
      label: t('common.actions'),
      cell: (session) =>
        session.revoked_at
          ? null
          : h(
              'div',
              { class: 'row-actions' },
              rowButton(t('admin.sessions.revoke'), 'session-revoke', session.device_id, () => revoke(session), {
                class: 'danger',
              }),
            ),
    },
  ];
  const heading = h('h2', { tabindex: '-1' }, t('admin.sessions.of', { name: user.display_name }));
  slot.replaceChildren(
    h(
      'section',
      { class: 'card', 'data-testid': 'sessions', dataset: { username: user.username } },
      heading,
      h(
        'div',
        { class: 'table-wrap' },
        grid('sessions-table', columns, sessions, 'session-row', (session) => ({ device: session.device_id })),
      ),
    ),
  );
  heading.focus();
}

// Org: branches and teams.

function managerChoices(choices, selected) {
  return h(
    'fieldset',
    { name: 'manager_ids' },
    h('legend', null, t('admin.org.managers')),
    choices.length
      ? h(
          'ul',
          { class: 'choices' },
          choices.map((user) =>
            h(
              'li',
              null,
              h(
                'label',
                null,
                h('input', {
                  type: 'checkbox',
                  name: 'manager_id',
                  value: user.id,
                  checked: selected.includes(user.id),
                }),
                ` ${user.display_name} (${user.username})`,
              ),
            ),
          ),
        )
      : h('p', { class: 'hint' }, t('admin.org.noManagers')),
  );
}

function checkedManagers(form) {
  return [...form.querySelectorAll('input[name="manager_id"]:checked')].map((input) => input.value);
}

async function orgSection(ctx) {
  const [branches, teams, users] = await Promise.all([api.get('/branches'), api.get('/teams'), api.getAll('/users')]);
  const userName = new Map(users.map((user) => [user.id, user.display_name]));
  const branchName = names(branches);
  const members = (team) => users.filter((user) => user.active && user.team_id === team.id).length;
  const managerNames = (team) => list(team.manager_ids.map((id) => userName.get(id) ?? id));
  const managersFor = (selected) =>
    users.filter((user) => (user.role === 'manager' && user.active) || selected.includes(user.id));

  const tree = h(
    'ul',
    { class: 'org-tree', 'data-testid': 'org-tree' },
    branches.map((branch) => {
      const directors = users.filter((user) => user.role === 'director' && user.active && user.branch_id === branch.id);
      return h(
        'li',
        null,
        h(
          'span',
          { class: 'org-node' },
          h('strong', null, branch.name),
          directors.length
            ? h(
                'span',
                { class: 'title' },
                ` · ${t('admin.org.directors', { names: list(directors.map((user) => user.display_name)) })}`,
              )
            : null,
        ),
        h(
          'ul',
          null,
          teams
            .filter((team) => team.branch_id === branch.id)
            .map((team) =>
              h(
                'li',
                null,
                h(
                  'span',
                  { class: 'org-node' },
                  h('strong', null, team.name),
                  h(
                    'span',
                    { class: 'title' },
                    ` · ${t('admin.org.ledBy', { names: managerNames(team) })}`,
                    ` · ${t('admin.org.memberCount', { count: members(team) })}`,
                  ),
                ),
              ),
            ),
        ),
      );
    }),
  );

  const teamColumns = [
    { label: t('common.name'), cell: (team) => team.name },
    { label: t('admin.users.branch'), cell: (team) => branchName(team.branch_id) },
    { label: t('admin.org.managers'), cell: (team) => managerNames(team) },
    { label: t('admin.org.members'), numeric: true, cell: (team) => format.number(members(team)) },
    {
      label: t('common.actions'),
      cell: (team) =>
        rowButton(t('admin.org.editManagers'), 'team-managers', team.name, () =>
          formDialog(
            ctx,
            t('admin.org.managersOf', { team: team.name }),
            managerChoices(managersFor(team.manager_ids), team.manager_ids),
            t('common.save'),
            async (form) => {
              await api.call('PUT', `/teams/${team.id}/managers`, { body: { manager_ids: checkedManagers(form) } });
              return t('admin.org.managersSaved', { team: team.name });
            },
          ),
        ),
    },
  ];
  const branchColumns = [
    { label: t('common.name'), cell: (branch) => branch.name },
    {
      label: t('admin.org.teams'),
      numeric: true,
      cell: (branch) => format.number(teams.filter((team) => team.branch_id === branch.id).length),
    },
    { label: t('admin.created'), cell: (branch) => format.date(branch.created_at) },
  ];

  const createBranch = writeForm(
    ctx,
    'branch-create',
    t('common.create'),
    [field(t('common.name'), h('input', { name: 'name', required: true, maxlength: 200 }))],
    async (form) => {
      const name = text(form, 'name');
      await api.call('POST', '/branches', { body: { name } });
      return t('admin.org.branchCreated', { name });
    },
  );
  const createTeam = writeForm(
    ctx,
    'team-create',
    t('common.create'),
    [
      field(t('common.name'), h('input', { name: 'name', required: true, maxlength: 200 })),
      field(
        t('admin.users.branch'),
        select('branch_id', branches.map((branch) => [branch.id, branch.name]), branches[0]?.id),
      ),
      managerChoices(managersFor([]), []),
    ],
    async (form) => {
      const name = text(form, 'name');
      await api.call('POST', '/teams', {
        body: { name, branch_id: text(form, 'branch_id'), manager_ids: checkedManagers(form) },
      });
      return t('admin.org.teamCreated', { name });
    },
  );

  return h(
    'div',
    { class: 'admin-stack' },
    card(t('admin.org.chart'), tree),
    card(
      t('admin.org.teams'),
      h(
        'div',
        { class: 'table-wrap' },
        grid('teams-table', teamColumns, teams, 'team-row', (team) => ({ name: team.name })),
      ),
    ),
    card(
      t('admin.org.branches'),
      h(
        'div',
        { class: 'table-wrap' },
        grid('branches-table', branchColumns, branches, 'branch-row', (branch) => ({ name: branch.name })),
      ),
    ),
    h(
      'div',
      { class: 'cards' },
      card(t('admin.org.newTeam'), createTeam),
      card(t('admin.org.newBranch'), createBranch),
    ),
  );
}

// Tiering: weights and thresholds, and the proposals waiting.

function tierLabel(tier) {
  return tier ? t(`admin.tier.${tier}`) : '—';
}

async function tieringSection(ctx, alert) {
  const [settings, first, users] = await Promise.all([
    api.get('/admin/settings/tiering'),
    api.get('/tier-proposals', { limit: PAGE_SIZE }),
    api.getAll('/users'),
  ]);
  const userName = new Map(users.map((user) => [user.id, user.display_name]));
  const form = writeForm(
    ctx,
    'tiering-form',
    t('common.save'),
    [h('p', { class: 'hint' }, t('admin.tiering.note')), settingsFields('admin.tiering', TIERING, settings)],
    async (target) => {
      const { data } = await api.call('PUT', '/admin/settings/tiering', { body: readSettings(target, TIERING) });
      return t('admin.tiering.saved', { count: data.rescored });
    },
  );
  const columns = [
    {
      label: t('admin.tiering.account'),
      cell: (account) => h('a', { href: `#/accounts/${account.id}` }, account.name),
    },
    { label: t('admin.tiering.owner'), cell: (account) => userName.get(account.owner_id) ?? '—' },
    { label: t('admin.tiering.current'), cell: (account) => tierLabel(account.tier) },
    { label: t('admin.tiering.proposed'), cell: (account) => badge(tierLabel(account.proposed_tier), 'warn') },
    { label: t('admin.tiering.suggested'), cell: (account) => tierLabel(account.suggested_tier) },
    { label: t('admin.tiering.score'), numeric: true, cell: (account) => format.number(account.score) },
    { label: t('admin.tiering.updated'), cell: (account) => format.relative(account.updated_at) },
  ];
  return h(
    'div',
    { class: 'admin-stack' },
    card(t('admin.tiering.heading'), form),
    card(
      t('admin.tiering.proposals'),
      h('p', { class: 'hint' }, t('admin.tiering.proposalsNote')),
      paged(
        '/tier-proposals',
        {},
        first,
        (accounts) =>
          grid('tier-proposals-table', columns, accounts, 'tier-proposal-row', (account) => ({ id: account.id })),
        'tier-proposals-more',
      ),
    ),
  );
}

// Insight: cadence, warnings and health; the latest sweeps.

async function insightSection(ctx) {
  const [{ data: settings, etag }, sweeps] = await Promise.all([
    api.call('GET', '/admin/settings/insight'),
    api.get('/admin/insight/sweeps', { limit: 20 }),
  ]);
  const version = (etag || '').replaceAll('"', '');
  const form = writeForm(
    ctx,
    'insight-form',
    t('common.save'),
    [
      h(
        'p',
        { class: 'hint', 'data-testid': 'insight-version' },
        version === '0' ? t('admin.insight.defaults') : t('admin.insight.version', { version }),
        ' ',
        t('admin.insight.note'),
      ),
      settingsFields('admin.insight', INSIGHT, settings),
    ],
    async (target) => {
      const { data } = await api.call('PUT', '/admin/settings/insight', {
        body: readSettings(target, INSIGHT),
        ifMatch: etag,
      });
      return t('admin.insight.saved', { refreshed: data.refreshed, changed: data.changed });
    },
  );
  const columns = [
    { label: t('admin.insight.due'), cell: (run) => format.dateTime(run.due_at) },
    { label: t('admin.insight.node'), cell: (run) => h('code', null, run.node) },
    { label: t('admin.insight.started'), cell: (run) => format.dateTime(run.started_at) },
    {
      label: t('admin.insight.finished'),
      cell: (run) =>
        run.finished_at ? format.dateTime(run.finished_at) : badge(t('admin.insight.unfinished'), 'warn'),
    },
    { label: t('admin.insight.accounts'), numeric: true, cell: (run) => format.number(run.accounts) },
    { label: t('admin.insight.changed'), numeric: true, cell: (run) => format.number(run.changed) },
  ];
  return h(
    'div',
    { class: 'admin-stack' },
    card(t('admin.insight.heading'), form),
    card(
      t('admin.insight.sweeps'),
      h('p', { class: 'hint' }, t('admin.insight.sweepsNote')),
      h(
        'div',
        { class: 'table-wrap' },
        grid('sweeps-table', columns, sweeps, 'sweep-row', (run) => ({ node: run.node })),
      ),
    ),
  );
}

// Products: the catalogue.

function productFields(product) {
  return [
    field(t('admin.products.code'), h('input', { name: 'code', value: product?.code, required: true, maxlength: 64 })),
    field(t('common.name'), h('input', { name: 'name', value: product?.name, required: true, maxlength: 200 })),
    field(
      t('admin.products.unit'),
      h('input', { name: 'unit', value: product?.unit, required: true, maxlength: 32 }),
      t('admin.products.unitHint'),
    ),
    field(
      t('admin.products.price'),
      h('input', {
        name: 'list_price',
        type: 'number',
        min: 0,
        step: 0.01,
        value: product?.list_price,
        required: true,
      }),
    ),
    field(
      t('admin.products.currency'),
      h('input', { name: 'currency', value: product?.currency ?? 'CNY', maxlength: 3, autocapitalize: 'characters' }),
      t('admin.products.currencyHint'),
    ),
    field(
      t('admin.products.description'),
      h('textarea', { name: 'description', rows: 3, maxlength: 2000 }, product?.description ?? ''),
    ),
  ];
}

function readProduct(form) {
  return {
    code: text(form, 'code'),
    name: text(form, 'name'),
    unit: text(form, 'unit'),
    list_price: numberOrNull(text(form, 'list_price')),
    currency: text(form, 'currency').toUpperCase(),
    description: orNull(text(form, 'description')),
  };
}

function editProduct(ctx, product) {
  const save = async (form) => {
    const changed = Object.entries(readProduct(form)).filter(([key, value]) => value !== product[key]);
    const patch = Object.fromEntries(changed);
    if (changed.length) {
      await api.patch(`/products/${product.id}`, patch, etagOf(product));
    }
    return t('admin.products.saved', { code: patch.code ?? product.code });
  };
  formDialog(ctx, t('admin.products.edit', { code: product.code }), productFields(product), t('common.save'), save);
}

async function productsSection(ctx, alert) {
  const filter = { q: ctx.query.get('q') || '', active: ctx.query.get('active') || '' };
  const first = await api.get('/products', { ...filter, limit: PAGE_SIZE });
  const setActive = (product) =>
    rowAction(
      ctx,
      alert,
      product.active
        ? [
            t('admin.products.deactivate'),
            t('admin.products.deactivateConfirm', { name: product.name }),
            t('admin.products.deactivate'),
          ]
        : null,
      async () => {
        await api.patch(`/products/${product.id}`, { active: !product.active }, etagOf(product));
        return t(product.active ? 'admin.products.deactivated' : 'admin.products.reactivated', { code: product.code });
      },
    );
  const columns = [
    { label: t('admin.products.code'), cell: (product) => h('code', null, product.code) },
    { label: t('common.name'), cell: (product) => product.name },
    { label: t('admin.products.unit'), cell: (product) => product.unit },
    {
      label: t('admin.products.price'),
      numeric: true,
      cell: (product) => format.money(product.list_price, product.currency),
    },
    { label: t('admin.products.description'), cell: (product) => product.description ?? '—' },
    {
      label: t('common.status'),
      cell: (product) => (product.active ? badge(t('admin.active'), 'ok') : badge(t('admin.inactive'), 'muted')),
    },
    {
      label: t('common.actions'),
      cell: (product) =>
        h(
          'div',
          { class: 'row-actions' },
          rowButton(t('common.edit'), 'product-edit', product.code, () => editProduct(ctx, product)),
          rowButton(
            product.active ? t('admin.products.deactivate') : t('admin.products.reactivate'),
            'product-deactivate',
            product.code,
            () => setActive(product),
            { class: product.active ? 'danger' : null, 'data-action': product.active ? 'deactivate' : 'reactivate' },
          ),
        ),
    },
  ];
  const filters = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'data-testid': 'products-filter',
      onsubmit: (event) => {
        event.preventDefault();
        const form = event.currentTarget;
        ctx.navigate('/admin/products', { q: text(form, 'q'), active: text(form, 'active') });
      },
    },
    field(t('admin.products.search'), h('input', { name: 'q', type: 'search', value: filter.q, maxlength: 200 })),
    field(t('common.status'), activeSelect(filter.active)),
    h('button', { type: 'submit' }, t('common.search')),
  );
  const create = writeForm(
    ctx,
    'product-create',
    t('common.create'),
    h('div', { class: 'field-grid' }, productFields(null)),
    async (form) => {
      const product = readProduct(form);
      await api.call('POST', '/products', { body: { ...product, currency: orNull(product.currency) } });
      return t('admin.products.created', { code: product.code });
    },
  );
  return h(
    'div',
    { class: 'admin-stack' },
    card(
      t('admin.products.heading'),
      filters,
      paged(
        '/products',
        filter,
        first,
        (products) =>
          grid('products-table', columns, products, 'product-row', (product) => ({
            code: product.code,
            active: String(product.active),
          })),
        'products-more',
      ),
    ),
    card(t('admin.products.new'), create),
  );
}

const BUILDERS = {
  users: usersSection,
  org: orgSection,
  tiering: tieringSection,
  insight: insightSection,
  products: productsSection,
};

function subnav(current) {
  return h(
    'nav',
    { 'aria-label': t('admin.sections'), 'data-testid': 'admin-nav' },
    h(
      'ul',
      { class: 'admin-nav' },
      SECTIONS.map((section) =>
        h(
          'li',
          null,
          h(
            'a',
            { href: `#/admin/${section}`, 'aria-current': section === current ? 'page' : null },
            t(`admin.section.${section}`),
          ),
        ),
      ),
    ),
  );
}

export async function render(ctx) {
  const section = ctx.params[0] || 'users';
  // Admins only, as the API decides: another role's 403 propagates as the page.
  await api.get('/admin/insight/sweeps', { limit: 1 });
  if (!SECTIONS.includes(section)) {
    throw new api.Problem(404, { code: 'route_not_found', detail: `/admin/${section}` });
  }
  const alert = h('div', { class: 'admin-alert', 'data-testid': 'admin-alert', 'aria-live': 'polite' });
  const body = await BUILDERS[section](ctx, alert);
  return h(
    'section',
    { class: 'page admin' },
    h('h1', null, t('admin.title')),
    subnav(section),
    alert,
    body,
  );
}

register({
  'zh-CN': {
    'admin.title': '系统管理',
    'admin.sections': '管理分区',
    'admin.section.users': '用户',
    'admin.section.org': '组织架构',
    'admin.section.tiering': '客户分级',
    'admin.section.insight': '预警与拜访',
    'admin.section.products': '产品目录',
    'admin.active': '启用',
    'admin.inactive': '已停用',
    'admin.created': '创建时间',
    'admin.noneChosen': '(无)',
    'admin.range': '{min}–{max}',
    'admin.atLeast': '不小于 {min}',
    'admin.passwordHint': '至少 10 个字符',
    'admin.violation.required': '必填。',
    'admin.violation.invalid_value': '取值无效。',
    'admin.violation.out_of_range': '超出允许范围。',
    'admin.violation.too_long': '太长。',
    'admin.violation.all_zero': '至少一项权重须大于 0。',
    'admin.violation.not_above_key': '战略客户门槛须高于重点客户门槛。',
    'admin.violation.not_a_manager': '此用户不是销售经理。',
    'admin.violation.duplicate': '重复选择。',
    'admin.users.heading': '用户列表',
    'admin.users.new': '新建用户',
    'admin.users.username': '用户名',
    'admin.users.usernameHint': '3–64 位小写字母、数字或 . _ -',
    'admin.users.displayName': '显示名称',
    'admin.users.role': '角色',
    'admin.users.team': '所属团队',
    'admin.users.teamHint': '客户经理必须选择团队',
    'admin.users.branch': '分公司',
    'admin.users.branchHint': '用于业务部经理和客服；不选表示全公司',
    'admin.users.wholeOrg': '(全公司)',
    'admin.users.password': '初始密码',
    'admin.users.newPassword': '新密码',
    'admin.users.you': '本人',
    'admin.users.sessions': '会话',
    'admin.users.resetPassword': '重置密码',
    'admin.users.resetTitle': '重置 {name} 的密码',
    'admin.users.resetNote': '重置后该用户所有设备上的会话都会结束，需用新密码重新登录。',
    'admin.users.passwordReset': '已重置 {username} 的密码',
    'admin.users.deactivate': '停用',
    'admin.users.reactivate': '重新启用',
    'admin.users.deactivateConfirm': '停用 {name}?其所有会话将立即结束，且无法再登录。',
    'admin.users.deactivated': '已停用 {username}',
    'admin.users.reactivated': '已重新启用 {username}',
    'admin.users.revokeSessions': '结束所有会话',
    'admin.users.revokeConfirm': '结束 {name} 在所有设备上的会话？其令牌将立即失效。',
    'admin.users.revokeSelf': '这会结束您自己（包括本控制台）的所有会话，您需要重新登录。',
    'admin.users.created': '已创建用户 {username}',
    'admin.sessions.pick': '在用户所在行点击“会话”查看其登录会话。',
    'admin.sessions.of': '{name} 的登录会话',
    'admin.sessions.device': '设备',
    'admin.sessions.created': '登录时间',
    'admin.sessions.lastUsed': '最近使用',
    'admin.sessions.open': '有效',
    'admin.sessions.ended': '已结束',
    'admin.sessions.revoke': '结束会话',
    'admin.sessions.revokeDevice': '结束 {name} 在设备 {device} 上的会话？',
    'admin.sessions.revoked': '已结束 {count} 个会话',
    'admin.sessions.reason.logout': '已退出登录',
    'admin.sessions.reason.replaced_by_new_login': '被新登录取代',
    'admin.sessions.reason.refresh_token_reused': '刷新令牌被重复使用',
    'admin.sessions.reason.user_deactivated': '用户已停用',
    'admin.sessions.reason.password_changed': '密码已修改',
    'admin.sessions.reason.revoked_by_admin': '被管理员结束',
    'admin.org.chart': '组织架构图',
    'admin.org.branches': '分公司',
    'admin.org.teams': '团队',
    'admin.org.newBranch': '新建分公司',
    'admin.org.newTeam': '新建团队',
    'admin.org.managers': '负责经理',
    'admin.org.members': '成员数',
    'admin.org.memberCount': '成员 {count} 人',
    'admin.org.ledBy': '负责人：{names}',
    'admin.org.directors': '业务部经理：{names}',
    'admin.org.editManagers': '设置经理',
    'admin.org.managersOf': '{team} 的负责经理',
    'admin.org.managersSaved': '已更新 {team} 的负责经理',
    'admin.org.noManagers': '暂无销售经理角色的用户。',
    'admin.org.branchCreated': '已创建分公司 {name}',
    'admin.org.teamCreated': '已创建团队 {name}',
    'admin.tier.strategic': '战略客户',
    'admin.tier.key': '重点客户',
    'admin.tier.standard': '普通客户',
    'admin.tiering.heading': '分级规则',
    'admin.tiering.note': '客户得分是各项评分（0–100）的加权平均；得分达到门槛即建议相应级别。保存后所有客户将按新规则重新评分。',
    'admin.tiering.weights': '评分权重',
    'admin.tiering.weights.need': '需求度',
    'admin.tiering.weights.purchasing_power': '购买力',
    'admin.tiering.weights.loyalty': '忠诚度',
    'admin.tiering.weights.size': '规模',
    'admin.tiering.weights.strategic_value': '战略价值',
    'admin.tiering.thresholds': '级别门槛（最低得分）',
    'admin.tiering.thresholds.strategic': '战略客户',
    'admin.tiering.thresholds.key': '重点客户',
    'admin.tiering.saved': '已保存，{count} 个客户的得分或建议级别有变化',
    'admin.tiering.proposals': '待确认的级别申请',
    'admin.tiering.proposalsNote': '由客户的负责经理在客户页面确认或驳回。',
    'admin.tiering.account': '客户',
    'admin.tiering.owner': '客户经理',
    'admin.tiering.current': '当前级别',
    'admin.tiering.proposed': '申请级别',
    'admin.tiering.suggested': '得分建议',
    'admin.tiering.score': '得分',
    'admin.tiering.updated': '更新',
    'admin.insight.heading': '预警与拜访规则',
    'admin.insight.defaults': '当前使用默认设置。',
    'admin.insight.version': '设置版本 {version}。',
    'admin.insight.note': '保存后所有客户的预警、健康度和下次拜访时间将立即重新计算。',
    'admin.insight.cadence': '拜访周期（间隔天数）',
    'admin.insight.cadence.strategic': '战略客户',
    'admin.insight.cadence.key': '重点客户',
    'admin.insight.cadence.standard': '普通客户',
    'admin.insight.cadence.untiered': '未定级客户',
    'admin.insight.visits': '有效拜访',
    'admin.insight.visits.onsite_completion_requires_check': '现场拜访须签到并签退才算完成',
    'admin.insight.visits.targets_count_effective_only': '拜访目标只计有效拜访',
    'admin.insight.visits.overdue_after_hours': '计划时间后多少小时算逾期',
    'admin.insight.warnings': '预警阈值',
    'admin.insight.warnings.low_satisfaction_at_most': '低满意度：评分不高于',
    'admin.insight.warnings.satisfaction_period_days': '满意度统计周期（天）',
    'admin.insight.warnings.satisfaction_drop': '满意度下降幅度（分）',
    'admin.insight.warnings.lost_opportunity_days': '近期丢单（天内）',
    'admin.insight.warnings.contract_ending_days': '合同即将到期（天内）',
    'admin.insight.warnings.revenue_period_days': '收入对比周期（天）',
    'admin.insight.warnings.revenue_drop_percent': '收入下降超过（%）',
    'admin.insight.health': '健康度',
    'admin.insight.health.critical_penalty': '严重预警扣分',
    'admin.insight.health.warning_penalty': '一般预警扣分',
    'admin.insight.health.info_penalty': '提示信号扣分',
    'admin.insight.health.watch_below': '低于此值：需关注',
    'admin.insight.health.at_risk_below': '低于此值：有流失风险',
    'admin.insight.saved': '已保存：重新计算 {refreshed} 个客户，其中 {changed} 个有变化',
    'admin.insight.sweeps': '最近的巡检',
    'admin.insight.sweepsNote': '服务器定时刷新所有客户的预警与健康度；此处为最近 20 次运行。',
    'admin.insight.due': '计划时段',
    'admin.insight.node': '节点',
    'admin.insight.started': '开始',
    'admin.insight.finished': '结束',
    'admin.insight.unfinished': '未完成',
    'admin.insight.accounts': '刷新客户数',
    'admin.insight.changed': '有变化',
    'admin.products.heading': '产品目录',
    'admin.products.new': '新建产品',
    'admin.products.code': '产品编码',
    'admin.products.unit': '单位',
    'admin.products.unitHint': '如 台、套、kg、许可',
    'admin.products.price': '标价',
    'admin.products.currency': '币种',
    'admin.products.currencyHint': 'ISO 4217 代码，默认 CNY',
    'admin.products.description': '说明',
    'admin.products.search': '编码或名称',
    'admin.products.edit': '编辑产品 {code}',
    'admin.products.saved': '已保存产品 {code}',
    'admin.products.created': '已创建产品 {code}',
    'admin.products.deactivate': '停用',
    'admin.products.reactivate': '重新启用',
    'admin.products.deactivateConfirm': '停用 {name}?新的商机和合同行将不能再选择它，已有的行保持不变。',
    'admin.products.deactivated': '已停用产品 {code}',
    'admin.products.reactivated': '已重新启用产品 {code}',
  },
  en: {
    'admin.title': 'Administration',
    'admin.sections': 'Admin sections',
    'admin.section.users': 'Users',
    'admin.section.org': 'Organisation',
    'admin.section.tiering': 'Tiering',
    'admin.section.insight': 'Warnings & visits',
    'admin.section.products': 'Products',
    'admin.active': 'Active',
    'admin.inactive': 'Deactivated',
    'admin.created': 'Created',
    'admin.noneChosen': '(none)',
    'admin.range': '{min}–{max}',
    'admin.atLeast': '{min} or more',
    'admin.passwordHint': 'At least 10 characters',
    'admin.violation.required': 'Required.',
    'admin.violation.invalid_value': 'Not a valid value.',
    'admin.violation.out_of_range': 'Out of the allowed range.',
    'admin.violation.too_long': 'Too long.',
    'admin.violation.all_zero': 'At least one weight must be above 0.',
    'admin.violation.not_above_key': 'The strategic threshold must be above the key threshold.',
    'admin.violation.not_a_manager': 'This user is not a sales manager.',
    'admin.violation.duplicate': 'Chosen twice.',
    'admin.users.heading': 'Users',
    'admin.users.new': 'New user',
    'admin.users.username': 'Username',
    'admin.users.usernameHint': '3–64 of a-z, 0-9, . _ -',
    'admin.users.displayName': 'Display name',
    'admin.users.role': 'Role',
    'admin.users.team': 'Team',
    'admin.users.teamHint': 'Required for account managers',
    'admin.users.branch': 'Branch',
    'admin.users.branchHint': 'For directors and service staff; none means the whole org',
    'admin.users.wholeOrg': '(whole org)',
    'admin.users.password': 'Initial password',
    'admin.users.newPassword': 'New password',
    'admin.users.you': 'you',
    'admin.users.sessions': 'Sessions',
    'admin.users.resetPassword': 'Reset password',
    'admin.users.resetTitle': 'Reset the password of {name}',
    'admin.users.resetNote': 'Their sessions on every device end; they log in again with the new password.',
    'admin.users.passwordReset': 'Password of {username} reset',
    'admin.users.deactivate': 'Deactivate',
    'admin.users.reactivate': 'Reactivate',
    'admin.users.deactivateConfirm': 'Deactivate {name}? Their sessions end at once and they can no longer log in.',
    'admin.users.deactivated': '{username} deactivated',
    'admin.users.reactivated': '{username} reactivated',
    'admin.users.revokeSessions': 'End all sessions',
    'admin.users.revokeConfirm': 'End the sessions of {name} on every device? Their tokens stop working at once.',
    'admin.users.revokeSelf': 'This ends all your own sessions, this console included; you will have to log in again.',
    'admin.users.created': 'User {username} created',
    'admin.sessions.pick': 'Choose “Sessions” on a user’s row to see their login sessions.',
    'admin.sessions.of': 'Login sessions of {name}',
    'admin.sessions.device': 'Device',
    'admin.sessions.created': 'Logged in',
    'admin.sessions.lastUsed': 'Last used',
    'admin.sessions.open': 'Open',
    'admin.sessions.ended': 'Ended',
    'admin.sessions.revoke': 'End session',
    'admin.sessions.revokeDevice': 'End the session of {name} on device {device}?',
    'admin.sessions.revoked': '{count} session(s) ended',
    'admin.sessions.reason.logout': 'Logged out',
    'admin.sessions.reason.replaced_by_new_login': 'Replaced by a new login',
    'admin.sessions.reason.refresh_token_reused': 'Refresh token reused',
    'admin.sessions.reason.user_deactivated': 'User deactivated',
    'admin.sessions.reason.password_changed': 'Password changed',
    'admin.sessions.reason.revoked_by_admin': 'Ended by an admin',
    'admin.org.chart': 'Organisation chart',
    'admin.org.branches': 'Branches',
    'admin.org.teams': 'Teams',
    'admin.org.newBranch': 'New branch',
    'admin.org.newTeam': 'New team',
    'admin.org.managers': 'Managers',
    'admin.org.members': 'Members',
    'admin.org.memberCount': 'members: {count}',
    'admin.org.ledBy': 'Led by {names}',
    'admin.org.directors': 'Director: {names}',
    'admin.org.editManagers': 'Set managers',
    'admin.org.managersOf': 'Managers of {team}',
    'admin.org.managersSaved': 'Managers of {team} saved',
    'admin.org.noManagers': 'No user has the sales manager role yet.',
    'admin.org.branchCreated': 'Branch {name} created',
    'admin.org.teamCreated': 'Team {name} created',
    'admin.tier.strategic': 'Strategic',
    'admin.tier.key': 'Key',
    'admin.tier.standard': 'Standard',
    'admin.tiering.heading': 'Tiering rules',
    'admin.tiering.note': 'An account’s score is the weighted average of its scores (0–100); a score at or above a threshold suggests that tier. Saving re-scores every account.',
    'admin.tiering.weights': 'Score weights',
    'admin.tiering.weights.need': 'Need',
    'admin.tiering.weights.purchasing_power': 'Purchasing power',
    'admin.tiering.weights.loyalty': 'Loyalty',
    'admin.tiering.weights.size': 'Size',
    'admin.tiering.weights.strategic_value': 'Strategic value',
    'admin.tiering.thresholds': 'Tier thresholds (lowest score)',
    'admin.tiering.thresholds.strategic': 'Strategic',
    'admin.tiering.thresholds.key': 'Key',
    'admin.tiering.saved': 'Saved; {count} accounts changed score or suggested tier',
    'admin.tiering.proposals': 'Tier proposals waiting',
    'admin.tiering.proposalsNote': 'The account’s managers confirm or reject them on the account’s page.',
    'admin.tiering.account': 'Account',
    'admin.tiering.owner': 'Account manager',
    'admin.tiering.current': 'Tier now',
    'admin.tiering.proposed': 'Proposed',
    'admin.tiering.suggested': 'Score suggests',
    'admin.tiering.score': 'Score',
    'admin.tiering.updated': 'Updated',
    'admin.insight.heading': 'Warning and visit rules',
    'admin.insight.defaults': 'The defaults are in force.',
    'admin.insight.version': 'Settings version {version}.',
    'admin.insight.note': 'Saving recomputes every account’s warnings, health and next visit at once.',
    'admin.insight.cadence': 'Visit cadence (days between visits)',
    'admin.insight.cadence.strategic': 'Strategic accounts',
    'admin.insight.cadence.key': 'Key accounts',
    'admin.insight.cadence.standard': 'Standard accounts',
    'admin.insight.cadence.untiered': 'Not yet tiered',
    'admin.insight.visits': 'Effective visits',
    'admin.insight.visits.onsite_completion_requires_check': 'Onsite visits complete only by checking in and out',
    'admin.insight.visits.targets_count_effective_only': 'Visit targets count effective visits only',
    'admin.insight.visits.overdue_after_hours': 'Overdue after (hours past the plan)',
    'admin.insight.warnings': 'Warning thresholds',
    'admin.insight.warnings.low_satisfaction_at_most': 'Low satisfaction: rated at most',
    'admin.insight.warnings.satisfaction_period_days': 'Satisfaction period (days)',
    'admin.insight.warnings.satisfaction_drop': 'Satisfaction drop (points)',
    'admin.insight.warnings.lost_opportunity_days': 'Deal lost within (days)',
    'admin.insight.warnings.contract_ending_days': 'Contract ending within (days)',
    'admin.insight.warnings.revenue_period_days': 'Revenue period (days)',
    'admin.insight.warnings.revenue_drop_percent': 'Revenue down by more than (%)',
    'admin.insight.health': 'Health',
    'admin.insight.health.critical_penalty': 'Critical warning penalty',
    'admin.insight.health.warning_penalty': 'Warning penalty',
    'admin.insight.health.info_penalty': 'Info signal penalty',
    'admin.insight.health.watch_below': 'Watch below',
    'admin.insight.health.at_risk_below': 'At risk below',
    'admin.insight.saved': 'Saved; {refreshed} accounts refreshed, {changed} changed',
    'admin.insight.sweeps': 'Latest sweeps',
    'admin.insight.sweepsNote': 'The server refreshes every account’s warnings and health on a schedule; these are the latest 20 runs.',
    'admin.insight.due': 'Slot',
    'admin.insight.node': 'Node',
    'admin.insight.started': 'Started',
    'admin.insight.finished': 'Finished',
    'admin.insight.unfinished': 'Not finished',
    'admin.insight.accounts': 'Accounts refreshed',
    'admin.insight.changed': 'Changed',
    'admin.products.heading': 'Product catalogue',
    'admin.products.new': 'New product',
    'admin.products.code': 'Code',
    'admin.products.unit': 'Unit',
    'admin.products.unitHint': 'Such as unit, set, kg, licence',
    'admin.products.price': 'List price',
    'admin.products.currency': 'Currency',
    'admin.products.currencyHint': 'ISO 4217 code; CNY by default',
    'admin.products.description': 'Description',
    'admin.products.search': 'Code or name',
    'admin.products.edit': 'Edit product {code}',
    'admin.products.saved': 'Product {code} saved',
    'admin.products.created': 'Product {code} created',
    'admin.products.deactivate': 'Deactivate',
    'admin.products.reactivate': 'Reactivate',
    'admin.products.deactivateConfirm': 'Deactivate {name}? New deal and contract lines can no longer name it; lines that have it keep it.',
    'admin.products.deactivated': 'Product {code} deactivated',
    'admin.products.reactivated': 'Product {code} reactivated',
  },
});
