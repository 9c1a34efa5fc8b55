// The team page (#/team, managers, directors, admins): per member of the
// caller's teams, target attainment, open pipeline, overdue work and the
// accounts owned, with attainment bars per team and per rep, and the
// reassignment of an account to another rep. A rep (or the service desk)
// gets the API's 403 from GET /users, shown as the page.
//
// data-testid:
//   team-period            period select (month, quarter, year)
//   team-table             the table of members; rows `team-row` with data-user-id
//   team-attainment        the reps' attainment bars (SVG); `team-team-attainment` the teams'
//   team-reassign-account  account select (owner shown in each option)
//   team-reassign-owner    new owner select (active reps)
//   team-reassign-submit   reassign button (asks to confirm, then PATCH)
//   team-reassign-result   where the API's refusal is shown

import * as api from '../api.js';
import { attainmentBars } from '../charts.js';
import * as format from '../format.js';
import { register, t } from '../i18n.js';
import { badge, card, confirmDialog, field, h, notice, problemView, select } from '../ui.js';

export const title = 'team.title';

const PERIODS = ['month', 'quarter', 'year'];
const OTHER_TARGETS = [
  ['contracts_target', 'contracts_signed', 'team.metric.contracts'],
  ['new_key_accounts_target', 'new_key_accounts', 'team.metric.new_key_accounts'],
  ['visits_target', 'visits_completed', 'team.metric.visits'],
];

register({
  'zh-CN': {
    'team.title': '团队',
    'team.period': '期间',
    'team.period.month': '本月',
    'team.period.quarter': '本季度',
    'team.period.year': '本年度',
    'team.period_range': '{from} 至 {to}',
    'team.members': '团队成员',
    'team.col.member': '成员',
    'team.col.revenue': '销售额 / 目标',
    'team.col.attainment': '目标达成',
    'team.col.pipeline': '在途商机（加权）',
    'team.col.accounts': '负责客户',
    'team.col.visit_overdue': '拜访逾期客户',
    'team.col.overdue_visits': '逾期拜访',
    'team.col.overdue_actions': '逾期计划行动',
    'team.weighted_deals': '加权 {weighted} · {count} 个商机',
    'team.no_target': '未设目标',
    'team.no_team': '无团队',
    'team.metric.contracts': '签约',
    'team.metric.new_key_accounts': '新增重点客户',
    'team.metric.visits': '完成拜访',
    'team.metric_line': '{metric} {value}/{target}',
    'team.empty': '您的团队中没有成员。',
    'team.chart.reps': '各成员销售额目标达成',
    'team.chart.teams': '各团队销售额目标达成',
    'team.chart.none': '未设目标',
    'team.reassign': '重新分配客户',
    'team.reassign.account': '客户（当前负责人）',
    'team.reassign.owner': '新负责人',
    'team.reassign.choose': '请选择…',
    'team.reassign.submit': '重新分配',
    'team.reassign.hint': '只有客户的上级（其团队的销售经理、业务部经理或管理员）可以更改负责人。',
    'team.reassign.confirm_title': '重新分配客户？',
    'team.reassign.confirm': '将“{account}”从 {from} 转给 {to}。',
    'team.reassign.same_owner': '该客户已由此人负责。',
    'team.reassign.pick': '请选择客户和新负责人。',
    'team.reassign.done': '“{account}”已转给 {to}。',
    'team.unknown_user': '未知用户',
    'team.inactive': '已停用',
  },
  en: {
    'team.title': 'Team',
    'team.period': 'Period',
    'team.period.month': 'This month',
    'team.period.quarter': 'This quarter',
    'team.period.year': 'This year',
    'team.period_range': '{from} to {to}',
    'team.members': 'Team members',
    'team.col.member': 'Member',
    'team.col.revenue': 'Revenue / target',
    'team.col.attainment': 'Attainment',
    'team.col.pipeline': 'Open pipeline (weighted)',
    'team.col.accounts': 'Accounts owned',
    'team.col.visit_overdue': 'Accounts due a visit',
    'team.col.overdue_visits': 'Overdue visits',
    'team.col.overdue_actions': 'Overdue plan actions',
    'team.weighted_deals': '{weighted} weighted · {count} deals',
    'team.no_target': 'No target',
    'team.no_team': 'No team',
    'team.metric.contracts': 'Contracts',
    'team.metric.new_key_accounts': 'New key accounts',
    'team.metric.visits': 'Visits',
    'team.metric_line': '{metric} {value}/{target}',
    'team.empty': 'Your teams have no members.',
    'team.chart.reps': 'Revenue target attainment by member',
    'team.chart.teams': 'Revenue target attainment by team',
    'team.chart.none': 'no target',
    'team.reassign': 'Reassign an account',
    'team.reassign.account': 'Account (current owner)',
    'team.reassign.owner': 'New owner',
    'team.reassign.choose': 'Choose…',
    'team.reassign.submit': 'Reassign',
    'team.reassign.hint': "Only the account's managers (its team's manager, the director, an admin) change its owner.",
    'team.reassign.confirm_title': 'Reassign the account?',
    'team.reassign.confirm': 'Move "{account}" from {from} to {to}.',
    'team.reassign.same_owner': 'This person owns the account already.',
    'team.reassign.pick': 'Choose an account and a new owner.',
    'team.reassign.done': '"{account}" now belongs to {to}.',
    'team.unknown_user': 'Unknown user',
    'team.inactive': 'Inactive',
  },
});

/** Rows of a grouped report by the group's id. */
function byGroup(report) {
  return new Map(report.rows.map((row) => [row.group.id, row]));
}

function attainmentBadge(goal) {
  if (!goal) return badge(t('team.no_target'), 'muted');
  if (goal.attainment === null) return badge('—', 'muted');
  const tone = goal.attainment >= 1 ? 'ok' : goal.attainment >= 0.6 ? 'warn' : 'bad';
  return badge(format.percent(goal.attainment), tone);
}

/** A chart label short enough for the bars' label column (CJK counts double). */
function shortLabel(text, room = 24) {
  let used = 0;
  let out = '';
  for (const char of text) {
    used += /[\u2e80-\uffff]/.test(char) ? 2 : 1;
    if (used > room) return `${out.trimEnd()}…`;
    out += char;
  }
  return out;
}

function barRow(label, revenue, goal) {
  return {
    label: shortLabel(label),
    value: revenue,
    target: goal ? goal.target : null,
    text: goal && goal.attainment !== null ? format.percent(goal.attainment) : t('team.chart.none'),
  };
}

/** The member's other targets (contracts, new key accounts, visits), when set. */
function otherTargets(sales) {
  if (!sales) return null;
  const lines = OTHER_TARGETS.filter(([goal]) => sales[goal]).map(([goal, figure, key]) =>
    h(
      'div',
      { class: 'team-metric' },
      t('team.metric_line', {
        metric: t(key),
        value: format.number(sales[figure]),
        target: format.number(sales[goal].target),
      }),
      ' ',
      attainmentBadge(sales[goal]),
    ),
  );
  return lines.length ? lines : null;
}

function countLink(count, href, tone) {
  if (!count) return format.number(0);
  return h('a', { href }, tone ? badge(format.number(count), tone) : format.number(count));
}

function membersTable(members) {
  const headers = [
    ['team.col.member', false],
    ['team.col.revenue', true],
    ['team.col.attainment', false],
    ['team.col.pipeline', true],
    ['team.col.accounts', true],
    ['team.col.visit_overdue', true],
    ['team.col.overdue_visits', true],
    ['team.col.overdue_actions', true],
  ];
  const num = (...content) => h('td', { class: 'num' }, ...content);
  const sub = (text) => [h('br'), h('small', null, text)];
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'grid', 'data-testid': 'team-table' },
      h('caption', { class: 'visually-hidden' }, t('team.members')),
      h(
        'thead',
        null,
        h('tr', null, headers.map(([key, numeric]) => h('th', { scope: 'col', class: numeric ? 'num' : null }, t(key)))),
      ),
      h(
        'tbody',
        null,
        members.length
          ? members.map((m) => {
              const goal = m.sales ? m.sales.revenue_target : null;
              const open = m.pipeline ? m.pipeline.open : { count: 0, amount: 0, weighted_amount: 0 };
              return h(
                'tr',
                { 'data-testid': 'team-row', 'data-user-id': m.user.id },
                h(
                  'th',
                  { scope: 'row' },
                  m.user.display_name,
                  m.user.active ? null : [' ', badge(t('team.inactive'), 'muted')],
                  sub(m.teamName),
                ),
                num(format.money(m.sales ? m.sales.revenue : 0), sub(goal ? format.money(goal.target) : '—')),
                h('td', null, attainmentBadge(goal), otherTargets(m.sales)),
                num(
                  format.money(open.amount),
                  sub(
                    t('team.weighted_deals', {
                      weighted: format.money(open.weighted_amount),
                      count: format.number(open.count),
                    }),
                  ),
                ),
                num(countLink(m.accounts, `#/accounts?owner_id=${m.user.id}`)),
                num(countLink(m.visitOverdue, `#/accounts?visit_overdue=true&owner_id=${m.user.id}`, 'bad')),
                num(m.overdueVisits ? badge(format.number(m.overdueVisits), 'bad') : format.number(0)),
                num(m.overdueActions ? badge(format.number(m.overdueActions), 'warn') : format.number(0)),
              );
            })
          : h('tr', null, h('td', { colspan: headers.length, class: 'empty' }, t('team.empty'))),
      ),
    ),
  );
}

function reassignForm(ctx, accounts, reps, usersById) {
  const ownerName = (id) => (usersById.get(id) ? usersById.get(id).display_name : t('team.unknown_user'));
  const accountSelect = select(
    'account',
    [['', t('team.reassign.choose')], ...accounts.map((a) => [a.id, `${a.name} (${ownerName(a.owner_id)})`])],
    '',
  );
  accountSelect.dataset.testid = 'team-reassign-account';
  const ownerSelect = select('owner', [['', t('team.reassign.choose')], ...reps.map((u) => [u.id, u.display_name])], '');
  ownerSelect.dataset.testid = 'team-reassign-owner';
  const result = h('div', { 'data-testid': 'team-reassign-result', 'aria-live': 'polite' });
  const submit = h(
    'button',
    { type: 'submit', class: 'primary', 'data-testid': 'team-reassign-submit' },
    t('team.reassign.submit'),
  );

  async function reassign(event) {
    event.preventDefault();
    result.replaceChildren();
    const account = accounts.find((a) => a.id === accountSelect.value);
    const owner = usersById.get(ownerSelect.value);
    if (!account || !owner) {
      result.replaceChildren(h('p', { class: 'hint', role: 'alert' }, t('team.reassign.pick')));
      return;
    }
    if (account.owner_id === owner.id) {
      result.replaceChildren(h('p', { class: 'hint', role: 'alert' }, t('team.reassign.same_owner')));
      return;
    }
    const names = { account: account.name, from: ownerName(account.owner_id), to: owner.display_name };
    const message = t('team.reassign.confirm', names);
    if (!(await confirmDialog(t('team.reassign.confirm_title'), message, t('team.reassign.submit')))) return;
    submit.disabled = true;
    try {
      await api.patch(`/accounts/${account.id}`, { owner_id: owner.id });
      notice(t('team.reassign.done', names));
      ctx.refresh();
    } catch (error) {
      result.replaceChildren(problemView(error));
      submit.disabled = false;
    }
  }

  return card(
    t('team.reassign'),
    h(
      'form',
      { class: 'team-reassign', onsubmit: reassign },
      h(
        'div',
        { class: 'filters' },
        field(t('team.reassign.account'), accountSelect),
        field(t('team.reassign.owner'), ownerSelect),
        submit,
      ),
      h('p', { class: 'hint' }, t('team.reassign.hint')),
      result,
    ),
  );
}

export async function render(ctx) {
  const period = PERIODS.includes(ctx.query.get('period')) ? ctx.query.get('period') : 'year';
  const query = { group_by: 'rep', period };
  // GET /users first: a rep's 403 is the page.
  const users = await api.getAll('/users');
  const [sales, teamSales, pipeline, coverage, worklist, accounts] = await Promise.all([
    api.get('/reports/sales', query),
    api.get('/reports/sales', { group_by: 'team', period }),
    api.get('/reports/pipeline/by-group', query),
    api.get('/reports/coverage', query),
    api.get('/worklist', { kinds: 'visit_overdue,plan_action_due', limit: 500 }),
    api.getAll('/accounts'),
  ]);

  const usersById = new Map(users.map((u) => [u.id, u]));
  const salesBy = byGroup(sales);
  const pipelineBy = byGroup(pipeline);
  const coverageBy = byGroup(coverage);
  const teamNames = new Map(teamSales.rows.map((row) => [row.group.id, row.group.name]));
  const overdue = new Map();
  for (const item of worklist.items) {
    if (!item.overdue || !item.assignee_id) continue;
    const counts = overdue.get(item.assignee_id) || { visits: 0, actions: 0 };
    if (item.kind === 'visit_overdue') counts.visits += 1;
    else counts.actions += 1;
    overdue.set(item.assignee_id, counts);
  }

  // Every rep the API shows, and anyone else with figures in the reports.
  const members = users
    .filter((u) => u.role === 'rep' || [salesBy, pipelineBy, coverageBy, overdue].some((figures) => figures.has(u.id)))
    .map((user) => {
      const cover = coverageBy.get(user.id);
      const work = overdue.get(user.id) || { visits: 0, actions: 0 };
      return {
        user,
        teamName: user.team_id ? teamNames.get(user.team_id) || '—' : t('team.no_team'),
        sales: salesBy.get(user.id),
        pipeline: pipelineBy.get(user.id),
        accounts: cover ? cover.accounts : 0,
        visitOverdue: cover ? cover.overdue : 0,
        overdueVisits: work.visits,
        overdueActions: work.actions,
      };
    })
    .sort((a, b) => a.user.display_name.localeCompare(b.user.display_name));

  const periodSelect = select('period', PERIODS.map((p) => [p, t(`team.period.${p}`)]), period);
  periodSelect.dataset.testid = 'team-period';
  periodSelect.addEventListener('change', () => ctx.navigate('/team', { period: periodSelect.value }));

  const reps = users
    .filter((u) => u.role === 'rep' && u.active)
    .sort((a, b) => a.display_name.localeCompare(b.display_name));
  const sortedAccounts = [...accounts].sort((a, b) => a.name.localeCompare(b.name));

  const repBars = attainmentBars(
    t('team.chart.reps'),
    members.map((m) => barRow(m.user.display_name, m.sales ? m.sales.revenue : 0, m.sales ? m.sales.revenue_target : null)),
  );
  repBars.dataset.testid = 'team-attainment';
  const teamBars = teamSales.rows.length
    ? attainmentBars(
        t('team.chart.teams'),
        teamSales.rows.map((row) => barRow(row.group.name, row.revenue, row.revenue_target)),
      )
    : null;
  if (teamBars) teamBars.dataset.testid = 'team-team-attainment';

  return h(
    'section',
    { class: 'page team-page stack' },
    h('h1', null, t('team.title')),
    h(
      'div',
      { class: 'filters' },
      field(t('team.period'), periodSelect),
      h(
        'p',
        { class: 'hint' },
        t('team.period_range', { from: format.date(sales.period.from), to: format.date(sales.period.to) }),
      ),
    ),
    card(t('team.members'), membersTable(members)),
    h(
      'div',
      { class: 'cards' },
      card(t('team.chart.reps'), members.length ? repBars : h('p', { class: 'hint' }, t('team.empty'))),
      teamBars ? card(t('team.chart.teams'), teamBars) : null,
    ),
    reassignForm(ctx, sortedAccounts, reps, usersById),
  );
}
