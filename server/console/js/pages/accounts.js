// The accounts list (#/accounts): the caller's accounts from GET /accounts,
// filtered by the API's own filters (kept in the hash query, so a URL is
// shareable), sorted by the API's `sort` and paged with its cursor. Also
// exports what the customer file (account.js) shares with it: the labels of
// the account enums and the people (users, teams) names are looked up in.
//
// data-testids:
//   accounts-table               the table of accounts
//   account-row                  each row (tr), with data-id = the account id
//   filter-q, filter-tier, filter-stage, filter-health_band, filter-owner_id,
//   filter-team_id, filter-warning, filter-visit_overdue
//                                the filter controls (owner_id is absent when
//                                GET /users answers 403, team_id when GET /teams does)
//   filter-clear                 clears every filter and the order
//   sort-health, sort-next_visit_due
//                                the sort buttons in the column headers (th has aria-sort)
//   accounts-more                "Load more" (appends the next_cursor page; absent on the last page)
//   accounts-count               how many accounts are shown

import * as api from '../api.js';
import * as format from '../format.js';
import { lang, register, t } from '../i18n.js';
import { badge, field, h, loadMore, problemView, select } from '../ui.js';

export const TIERS = ['strategic', 'key', 'standard'];
export const STAGES = ['identified', 'engaging', 'deepening', 'maintaining', 'at_risk', 'lost'];
export const SEGMENTS = ['government', 'enterprise', 'financial', 'education', 'healthcare', 'other'];
const HEALTH_BANDS = ['healthy', 'watch', 'at_risk'];
const WARNINGS = [
  'no_recent_visit',
  'visits_overdue',
  'low_satisfaction',
  'satisfaction_falling',
  'open_complaint',
  'ticket_past_sla',
  'no_decision_maker',
  'no_champion',
  'decision_maker_opposed',
  'opportunity_lost',
  'contract_ending',
  'revenue_falling',
];
const BAND_TONE = { healthy: 'ok', watch: 'warn', at_risk: 'bad' };
const SEVERITY_TONE = { info: 'muted', warning: 'warn', critical: 'bad' };
const STAGE_TONE = { at_risk: 'bad', lost: 'muted' };
const FILTERS = ['q', 'tier', 'stage', 'health_band', 'owner_id', 'team_id', 'warning', 'visit_overdue'];
const SORTS = ['health', 'next_visit_due'];
const PAGE_SIZE = 50;

register({
  'zh-CN': {
    'accounts.title': '客户',
    'accounts.heading': '我的客户',
    'accounts.filters': '筛选客户',
    'accounts.q': '名称包含',
    'accounts.tier': '级别',
    'accounts.stage': '阶段',
    'accounts.health': '健康度',
    'accounts.healthBand': '健康状况',
    'accounts.owner': '客户经理',
    'accounts.team': '团队',
    'accounts.warning': '预警',
    'accounts.visitOverdue': '拜访逾期',
    'accounts.warnings': '预警数',
    'accounts.name': '客户名称',
    'accounts.visits': '上次拜访 / 下次应访',
    'accounts.lastVisit': '上次：{date}',
    'accounts.nextDue': '下次：{date}',
    'accounts.overdue': '逾期',
    'accounts.clear': '清除筛选',
    'accounts.count': '已显示 {count} 个客户',
    'accounts.sortedBy': '排序：{order}',
    'accounts.sort.newest': '最新创建在前',
    'accounts.sort.health': '健康度最低在前',
    'accounts.sort.next_visit_due': '最早应访在前',
    'accounts.sortHint': '点击以按此列排序，再次点击恢复默认顺序',
    'accounts.proposedTier': '提议：{tier}',
    'accounts.userUnknown': '用户 …{id}',
    'accounts.teamUnknown': '团队 …{id}',
    'accounts.yourTeam': '您的团队',
    'accounts.inactive': '{name}(已停用)',
    'accounts.noTier': '未定级',
    'accounts.tier.strategic': '战略客户',
    'accounts.tier.key': '重点客户',
    'accounts.tier.standard': '普通客户',
    'accounts.stage.identified': '识别与筛选',
    'accounts.stage.engaging': '接触与建立关系',
    'accounts.stage.deepening': '深化关系',
    'accounts.stage.maintaining': '维护',
    'accounts.stage.at_risk': '流失预警',
    'accounts.stage.lost': '已流失',
    'accounts.segment.government': '政府',
    'accounts.segment.enterprise': '企业',
    'accounts.segment.financial': '金融',
    'accounts.segment.education': '教育',
    'accounts.segment.healthcare': '医疗',
    'accounts.segment.other': '其他',
    'accounts.band.healthy': '健康',
    'accounts.band.watch': '关注',
    'accounts.band.at_risk': '高风险',
    'accounts.severity.info': '提示',
    'accounts.severity.warning': '警告',
    'accounts.severity.critical': '严重',
    'accounts.warning.no_recent_visit': '近期无有效拜访',
    'accounts.warning.visits_overdue': '计划拜访逾期未执行',
    'accounts.warning.low_satisfaction': '满意度低',
    'accounts.warning.satisfaction_falling': '满意度下降',
    'accounts.warning.open_complaint': '有未解决的投诉',
    'accounts.warning.ticket_past_sla': '工单超出 SLA',
    'accounts.warning.no_decision_maker': '未掌握决策人',
    'accounts.warning.no_champion': '无内部支持者或教练',
    'accounts.warning.decision_maker_opposed': '决策人持反对态度',
    'accounts.warning.opportunity_lost': '近期丢单',
    'accounts.warning.contract_ending': '合同即将到期',
    'accounts.warning.revenue_falling': '收入下滑',
  },
  en: {
    'accounts.title': 'Accounts',
    'accounts.heading': 'Accounts',
    'accounts.filters': 'Filter accounts',
    'accounts.q': 'Name contains',
    'accounts.tier': 'Tier',
    'accounts.stage': 'Stage',
    'accounts.health': 'Health',
    'accounts.healthBand': 'Health band',
    'accounts.owner': 'Owner',
    'accounts.team': 'Team',
    'accounts.warning': 'Warning',
    'accounts.visitOverdue': 'Visit overdue',
    'accounts.warnings': 'Warnings',
    'accounts.name': 'Account',
    'accounts.visits': 'Last visit / next due',
    'accounts.lastVisit': 'Last: {date}',
    'accounts.nextDue': 'Next: {date}',
    'accounts.overdue': 'Overdue',
    'accounts.clear': 'Clear filters',
    'accounts.count': '{count} accounts shown',
    'accounts.sortedBy': 'Order: {order}',
    'accounts.sort.newest': 'newest first',
    'accounts.sort.health': 'least healthy first',
    'accounts.sort.next_visit_due': 'visit due soonest first',
    'accounts.sortHint': 'Sort by this column; again for the default order',
    'accounts.proposedTier': 'Proposed: {tier}',
    'accounts.userUnknown': 'user …{id}',
    'accounts.teamUnknown': 'team …{id}',
    'accounts.yourTeam': 'Your team',
    'accounts.inactive': '{name} (inactive)',
    'accounts.noTier': 'No tier',
    'accounts.tier.strategic': 'Strategic',
    'accounts.tier.key': 'Key',
    'accounts.tier.standard': 'Standard',
    'accounts.stage.identified': 'Identified',
    'accounts.stage.engaging': 'Engaging',
    'accounts.stage.deepening': 'Deepening',
    'accounts.stage.maintaining': 'Maintaining',
    'accounts.stage.at_risk': 'At risk',
    'accounts.stage.lost': 'Lost',
    'accounts.segment.government': 'Government',
    'accounts.segment.enterprise': 'Enterprise',
    'accounts.segment.financial': 'Financial',
    'accounts.segment.education': 'Education',
    'accounts.segment.healthcare': 'Healthcare',
    'accounts.segment.other': 'Other',
    'accounts.band.healthy': 'Healthy',
    'accounts.band.watch': 'Watch',
    'accounts.band.at_risk': 'At risk',
    'accounts.severity.info': 'Info',
    'accounts.severity.warning': 'Warning',
    'accounts.severity.critical': 'Critical',
    'accounts.warning.no_recent_visit': 'No recent effective visit',
    'accounts.warning.visits_overdue': 'Planned visits overdue',
    'accounts.warning.low_satisfaction': 'Low satisfaction',
    'accounts.warning.satisfaction_falling': 'Satisfaction falling',
    'accounts.warning.open_complaint': 'Open complaint',
    'accounts.warning.ticket_past_sla': 'Ticket past its SLA',
    'accounts.warning.no_decision_maker': 'No decision maker known',
    'accounts.warning.no_champion': 'No champion or coach',
    'accounts.warning.decision_maker_opposed': 'Decision maker opposed',
    'accounts.warning.opportunity_lost': 'Opportunity lost recently',
    'accounts.warning.contract_ending': 'Contract ending',
    'accounts.warning.revenue_falling': 'Revenue falling',
  },
});

export const title = 'accounts.title';

/** The label of an enum value (`kind` is tier, stage, segment, band, severity or warning). */
export function label(kind, value) {
  return value ? t(`accounts.${kind}.${value}`) : '—';
}

/** The tier as a badge (or "no tier"). */
export function tierBadge(tier) {
  return tier ? badge(label('tier', tier), tier === 'standard' ? 'muted' : 'ok') : badge(t('accounts.noTier'), 'muted');
}

/** The stage as a badge. */
export function stageBadge(stage) {
  return badge(label('stage', stage), STAGE_TONE[stage] || 'muted');
}

/** Health: the score with its band as a badge ("—" for an account insight does not follow). */
export function healthView(account) {
  if (account.health === null || account.health === undefined) return '—';
  return h(
    'span',
    { class: 'health' },
    h('span', { class: 'health-score' }, format.number(account.health)),
    ' ',
    account.health_band ? badge(label('band', account.health_band), BAND_TONE[account.health_band]) : null,
  );
}

/** A warning's severity as a badge tone. */
export function severityTone(severity) {
  return SEVERITY_TONE[severity] || 'muted';
}

let peopleCache = null;

/**
 * The users and teams the caller may list (GET /users, GET /teams), as maps
 * by id; either is null when the API answers 403 for this caller, or for a
 * role the API documents it refuses (users: admins, directors and managers;
 * teams: admins and directors). Kept for a minute per user.
 */
export function loadPeople(me) {
  if (peopleCache && peopleCache.userId === me.id && Date.now() - peopleCache.at < 60_000) {
    return peopleCache.promise;
  }
  const forbiddenAsNull = (error) => {
    if (error instanceof api.Problem && error.status === 403) return null;
    throw error;
  };
  const listsUsers = ['admin', 'director', 'manager'].includes(me.role);
  const listsTeams = ['admin', 'director'].includes(me.role);
  const promise = Promise.all([
    listsUsers ? api.getAll('/users').then((users) => new Map(users.map((u) => [u.id, u])), forbiddenAsNull) : null,
    listsTeams
      ? api.get('/teams').then((teams) => new Map(teams.map((team) => [team.id, team])), forbiddenAsNull)
      : null,
  ]).then(([users, teams]) => ({ users, teams }));
  peopleCache = { userId: me.id, at: Date.now(), promise };
  promise.catch(() => {
    peopleCache = null;
  });
  return promise;
}

/** A user's display name, from the users the caller may list (or the caller themselves). */
export function personName(people, me, id) {
  if (!id) return '—';
  const user = people.users && people.users.get(id);
  if (user) return user.display_name;
  if (id === me.id) return me.display_name;
  return t('accounts.userUnknown', { id: id.slice(-6) });
}

/** A team's name, when the caller may list teams (else "your team" for the caller's own). */
export function teamName(people, id, me) {
  if (!id) return '—';
  const team = people.teams && people.teams.get(id);
  if (team) return team.name;
  if (id === me.team_id || (me.led_teams || []).includes(id)) return t('accounts.yourTeam');
  return t('accounts.teamUnknown', { id: id.slice(-6) });
}

/** The reps and managers of the users map (those who own accounts), by name, as select options. */
function ownerOptions(people) {
  return [...people.users.values()]
    .filter((u) => u.role === 'rep' || u.role === 'manager')
    .sort((a, b) => a.display_name.localeCompare(b.display_name, lang()))
    .map((u) => [u.id, u.active ? u.display_name : t('accounts.inactive', { name: u.display_name })]);
}

function filterSelect(name, options, selected, onChange) {
  const control = select(name, [['', t('common.all')], ...options], selected);
  control.dataset.testid = `filter-${name}`;
  control.addEventListener('change', onChange);
  return control;
}

function visitsCell(account) {
  return h(
    'div',
    { class: 'visit-cadence' },
    h('div', null, t('accounts.lastVisit', { date: format.date(account.last_visit_at) })),
    h(
      'div',
      null,
      t('accounts.nextDue', { date: format.date(account.next_visit_due) }),
      account.visit_overdue ? [' ', badge(t('accounts.overdue'), 'bad')] : null,
    ),
  );
}

function warningsCell(account) {
  const warnings = account.warnings || [];
  if (!warnings.length) return badge('0', 'ok');
  const worst = ['critical', 'warning', 'info'].find((s) => warnings.some((w) => w.severity === s)) || 'info';
  const labels = warnings.map((w) => label('warning', w.code)).join(', ');
  return h(
    'span',
    { title: labels },
    badge(format.number(warnings.length), severityTone(worst)),
    h('span', { class: 'visually-hidden' }, ` ${labels}`),
  );
}

function row(account, people, me) {
  return h(
    'tr',
    { 'data-testid': 'account-row', 'data-id': account.id },
    h('td', null, h('a', { href: `#/accounts/${account.id}` }, account.name)),
    h(
      'td',
      null,
      tierBadge(account.tier),
      account.proposed_tier
        ? h('div', { class: 'sub' }, t('accounts.proposedTier', { tier: label('tier', account.proposed_tier) }))
        : null,
    ),
    h('td', null, stageBadge(account.stage)),
    h('td', null, healthView(account)),
    h('td', null, personName(people, me, account.owner_id)),
    h('td', null, visitsCell(account)),
    h('td', { class: 'num' }, warningsCell(account)),
  );
}

export async function render(ctx) {
  const { me } = ctx;
  const current = Object.fromEntries(FILTERS.map((name) => [name, ctx.query.get(name) || '']));
  const sort = SORTS.includes(ctx.query.get('sort')) ? ctx.query.get('sort') : '';
  const listQuery = { ...current, sort: sort || undefined, limit: PAGE_SIZE };

  // A refused list (a malformed filter in a shared URL, say) shows under the filters.
  const [people, { first, listError }] = await Promise.all([
    loadPeople(me),
    api.get('/accounts', listQuery).then(
      (page) => ({ first: page }),
      (error) => {
        if (!(error instanceof api.Problem)) throw error;
        return { listError: error };
      },
    ),
  ]);

  const controls = {};
  const apply = (changes = {}) => {
    const next = { sort };
    for (const [name, control] of Object.entries(controls)) next[name] = control.value.trim();
    ctx.navigate('/accounts', { ...next, ...changes });
  };
  const onChange = () => apply();

  controls.q = h('input', {
    type: 'search',
    name: 'q',
    value: current.q,
    'data-testid': 'filter-q',
    autocomplete: 'off',
    onchange: onChange,
  });
  controls.tier = filterSelect('tier', TIERS.map((v) => [v, label('tier', v)]), current.tier, onChange);
  controls.stage = filterSelect('stage', STAGES.map((v) => [v, label('stage', v)]), current.stage, onChange);
  controls.health_band = filterSelect(
    'health_band',
    HEALTH_BANDS.map((v) => [v, label('band', v)]),
    current.health_band,
    onChange,
  );
  if (people.users) {
    const owners = ownerOptions(people);
    if (current.owner_id && !owners.some(([id]) => id === current.owner_id)) {
      owners.push([current.owner_id, personName(people, me, current.owner_id)]);
    }
    controls.owner_id = filterSelect('owner_id', owners, current.owner_id, onChange);
  }
  if (people.teams) {
    const teams = [...people.teams.values()].map((team) => [team.id, team.name]);
    controls.team_id = filterSelect('team_id', teams, current.team_id, onChange);
  }
  controls.warning = filterSelect('warning', WARNINGS.map((v) => [v, label('warning', v)]), current.warning, onChange);
  controls.visit_overdue = filterSelect(
    'visit_overdue',
    [
      ['true', t('common.yes')],
      ['false', t('common.no')],
    ],
    current.visit_overdue,
    onChange,
  );

  const labels = {
    q: 'accounts.q',
    tier: 'accounts.tier',
    stage: 'accounts.stage',
    health_band: 'accounts.healthBand',
    owner_id: 'accounts.owner',
    team_id: 'accounts.team',
    warning: 'accounts.warning',
    visit_overdue: 'accounts.visitOverdue',
  };
  const filters = h(
    'form',
    {
      class: 'filters',
      role: 'search',
      'aria-label': t('accounts.filters'),
      onsubmit: (event) => {
        event.preventDefault();
        apply();
      },
    },
    Object.entries(controls).map(([name, control]) => field(t(labels[name]), control)),
    h(
      'button',
      {
        type: 'button',
        class: 'secondary',
        'data-testid': 'filter-clear',
        onclick: () => ctx.navigate('/accounts', {}),
      },
      t('accounts.clear'),
    ),
  );

  const page = h(
    'section',
    { class: 'page accounts-page' },
    h('h1', null, t('accounts.heading')),
    filters,
  );
  if (listError) {
    page.append(problemView(listError));
    return page;
  }

  const sortHeader = (text, value) => {
    const active = sort === value;
    return h(
      'th',
      { scope: 'col', 'aria-sort': active ? 'ascending' : 'none' },
      h(
        'button',
        {
          type: 'button',
          class: 'sort',
          title: t('accounts.sortHint'),
          'data-testid': `sort-${value}`,
          onclick: () => apply({ sort: active ? '' : value }),
        },
        text,
        h('span', { class: 'sort-mark', 'aria-hidden': 'true' }, active ? ' ▲' : ' ↕'),
      ),
    );
  };
  const plainHeader = (text, numeric) => h('th', { scope: 'col', class: numeric ? 'num' : null }, text);

  const tbody = h('tbody');
  const count = h('p', { class: 'count', 'data-testid': 'accounts-count', 'aria-live': 'polite' });
  let shown = 0;
  const add = (items) => {
    tbody.append(...items.map((account) => row(account, people, me)));
    shown += items.length;
    count.textContent = t('accounts.count', { count: format.number(shown) });
  };

  if (first.items.length) add(first.items);
  else {
    count.textContent = t('accounts.count', { count: format.number(0) });
    tbody.append(h('tr', null, h('td', { colspan: 7, class: 'empty' }, t('common.none'))));
  }
  const moreSlot = loadMore(first.next_cursor, (cursor) => api.get('/accounts', { ...listQuery, cursor }), add, 'accounts-more');

  page.append(
    h(
      'div',
      { class: 'list-meta' },
      count,
      h('p', { class: 'order' }, t('accounts.sortedBy', { order: t(`accounts.sort.${sort || 'newest'}`) })),
    ),
    h(
      'div',
      { class: 'table-wrap' },
      h(
        'table',
        { class: 'grid accounts', 'data-testid': 'accounts-table' },
        h('caption', { class: 'visually-hidden' }, t('accounts.heading')),
        h(
          'thead',
          null,
          h(
            'tr',
            null,
            plainHeader(t('accounts.name')),
            plainHeader(t('accounts.tier')),
            plainHeader(t('accounts.stage')),
            sortHeader(t('accounts.health'), 'health'),
            plainHeader(t('accounts.owner')),
            sortHeader(t('accounts.visits'), 'next_visit_due'),
            plainHeader(t('accounts.warnings'), true),
          ),
        ),
        tbody,
      ),
    ),
    moreSlot,
  );
  return page;
}
