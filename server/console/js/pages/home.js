// The Home page (#/): everyone's worklist (GET /worklist, grouped by kind,
// with "mark warnings seen"), and above it, for managers, directors and
// admins, a dashboard from the reports API for a period: KPI tiles,
// revenue attainment by team and by rep, the deal funnel, visit coverage
// per tier, accounts by health band and the new warnings. Every request is
// made in parallel; a failing one shows its problem inside its own card.
//
// data-testid (raw API figures in data-value, exactly as the API answered):
//   home-period                select: month | quarter | year (query ?period=)
//   kpi-revenue                GET /reports/sales?group_by=branch (director,
//                              admin) or team (manager): total.revenue;
//                              data-target = total.revenue_target.target ('' none)
//   kpi-revenue-attainment     total.revenue_target.attainment (absent without a target)
//   kpi-open-pipeline          GET /reports/pipeline: open_amount
//   kpi-weighted-pipeline      GET /reports/pipeline: open_weighted_amount
//   kpi-win-rate               GET /reports/funnel: total.win_rate
//   kpi-coverage               GET /reports/coverage: total.within_cadence_share
//   kpi-at-risk                GET /reports/accounts: total.by_stage[at_risk].count
//   chart-attainment-team      /reports/sales?group_by=team rows: svg g.bar-row
//                              data-label = group.name, data-value = revenue,
//                              data-target = revenue_target.target ('' none);
//                              table rows data-testid="attainment-row" with
//                              data-group-id, cells data-value (revenue, target, attainment)
//   chart-attainment-rep       the same for group_by=rep
//   chart-funnel               /reports/funnel total: g.funnel-stage data-count =
//                              stages[].entered, then won; table rows
//                              data-testid="funnel-row" data-stage, cells data-value
//   chart-coverage             /reports/coverage total.tiers: g.bar-row data-value =
//                              within_cadence, data-target = accounts; table rows
//                              data-testid="coverage-row" data-tier ('none' for null)
//   chart-health               accounts by health_band counted from GET /accounts
//                              (no report counts them): legend items
//                              data-testid="health-<healthy|watch|at_risk|none>" data-value
//   home-new-warnings          the new warnings (GET /worklist?kinds=new_warning&limit=8):
//                              new-warnings-total (data-value = total), up to 8 items
//                              data-testid="new-warning" (data-overdue; account link)
//   worklist                   the worklist card; worklist-total (data-value = total)
//   worklist-group-<kind>      one per kind, data-count = the kind's count over
//                              every item (summed from by_assignee)
//   worklist-item              rows: data-kind, data-overdue, data-due-at; the
//                              account link inside
//   worklist-more-<kind>       button showing a long group's other rows
//   worklist-mark-seen         in the new_warning group (only when it has items):
//                              POST /worklist/seen {through: the worklist's as_of}

import * as api from '../api.js';
import * as charts from '../charts.js';
import * as format from '../format.js';
import { has, register, t } from '../i18n.js';
import { badge, field, h, notice, problemView, select } from '../ui.js';

export const title = 'nav.home';

const DASHBOARD_ROLES = ['manager', 'director', 'admin'];
const PERIODS = ['month', 'quarter', 'year'];
const KINDS = [
  'visit_overdue',
  'ticket_past_sla',
  'visit_due',
  'ticket_near_sla',
  'plan_action_due',
  'callback_due',
  'contract_ending',
  'tier_proposal',
  'at_risk_proposal',
  'resource_request',
  'new_warning',
];
const BANDS = [
  ['healthy', 'ok'],
  ['watch', 'warn'],
  ['at_risk', 'bad'],
  ['none', 'muted'],
];
const SEVERITY_TONES = { critical: 'bad', warning: 'warn', info: 'muted' };
const GROUP_ROWS_SHOWN = 5;
const WARNINGS_SHOWN = 8;
const HEALTH_PAGES = 10;

register({
  'zh-CN': {
    'home.title': '首页',
    'home.greeting': '您好，{name}',
    'home.period': '期间',
    'home.period.month': '本月',
    'home.period.quarter': '本季度',
    'home.period.year': '本年',
    'home.periodRange': '{from} 至 {to}',
    'home.dashboard': '业绩概览',
    'home.kpi.revenue': '签约收入',
    'home.kpi.revenueTarget': '目标 {target}，完成 {attainment}',
    'home.kpi.noTarget': '本期间未设目标',
    'home.kpi.openPipeline': '在途商机金额',
    'home.kpi.openDeals': '{count} 个在途商机',
    'home.kpi.weightedPipeline': '加权商机金额',
    'home.kpi.weightedShare': '占在途金额 {share}',
    'home.kpi.winRate': '赢单率',
    'home.kpi.wonLost': '赢 {won} · 输 {lost}',
    'home.kpi.coverage': '按频次拜访覆盖率',
    'home.kpi.coverageOf': '{within} / {accounts} 个客户未逾期',
    'home.kpi.atRisk': '流失预警客户',
    'home.kpi.movedToAtRisk': '本期间新增 {count} 个',
    'home.attainmentTeam': '团队收入目标完成',
    'home.attainmentRep': '客户经理收入目标完成',
    'home.attainmentChart': '收入目标完成率',
    'home.group': '组',
    'home.revenue': '签约收入',
    'home.target': '目标',
    'home.attainment': '完成率',
    'home.noTarget': '无目标',
    'home.noTargets': '本期间没有设定收入目标。',
    'home.nothingCounted': '本期间暂无数据。',
    'home.funnel': '商机漏斗',
    'home.funnelChart': '各阶段进入的商机数',
    'home.stage': '阶段',
    'home.entered': '进入',
    'home.conversion': '转入下一阶段',
    'home.averageDays': '平均天数',
    'home.funnelSummary': '赢单率 {rate} · 赢单金额 {amount} · 平均周期 {days} 天',
    'home.coverage': '各级别拜访覆盖',
    'home.coverageChart': '按拜访频次覆盖的客户',
    'home.tier': '级别',
    'home.withinCadence': '按期拜访',
    'home.overdue': '逾期',
    'home.shares': '客户占比 / 时间占比',
    'home.mostOverdue': '最逾期的客户',
    'home.visitDue': '应拜访 {when}',
    'home.health': '客户健康度',
    'home.bandCount': '{label}：',
    'home.healthChart': '按健康度分布的客户',
    'home.healthPartial': '仅统计了前 {count} 个客户。',
    'home.newWarnings': '新预警',
    'home.newWarningsTotal': '自上次查看以来 {count} 条',
    'home.noNewWarnings': '自上次查看以来没有新预警。',
    'home.moreWarnings': '另有 {count} 条，见下方待办。',
    'home.worklist': '我的待办',
    'home.worklistTotal': '共 {count} 项',
    'home.asOf': '更新于 {time}',
    'home.worklistEmpty': '目前没有待办事项。',
    'home.account': '客户',
    'home.detail': '事项',
    'home.assignee': '负责人',
    'home.due': '到期',
    'home.state': '状态',
    'home.unassigned': '未分配',
    'home.overdueBadge': '已逾期',
    'home.showAll': '显示全部 {count} 项',
    'home.showFewer': '收起',
    'home.beyondLimit': '另有 {count} 项未列出（按紧急程度仅列出前 {limit} 项）。',
    'home.markSeen': '标记预警为已读',
    'home.seenDone': '预警已标记为已读',
    'home.kind.visit_due': '待拜访',
    'home.kind.visit_overdue': '逾期拜访',
    'home.kind.plan_action_due': '到期的计划行动',
    'home.kind.callback_due': '待回访',
    'home.kind.ticket_near_sla': '即将超时的工单',
    'home.kind.ticket_past_sla': '已超时的工单',
    'home.kind.tier_proposal': '待确认的级别调整',
    'home.kind.at_risk_proposal': '流失预警提议',
    'home.kind.resource_request': '资源支持申请',
    'home.kind.contract_ending': '即将到期的合同',
    'home.kind.new_warning': '新预警',
    'home.severity.critical': '严重',
    'home.severity.warning': '警告',
    'home.severity.info': '提示',
    'home.warning.no_recent_visit': '长期未拜访',
    'home.warning.visits_overdue': '拜访逾期未完成',
    'home.warning.low_satisfaction': '满意度低',
    'home.warning.satisfaction_falling': '满意度下降',
    'home.warning.open_complaint': '投诉未解决',
    'home.warning.ticket_past_sla': '工单超时',
    'home.warning.no_decision_maker': '缺少决策人',
    'home.warning.no_champion': '缺少支持者',
    'home.warning.decision_maker_opposed': '决策人反对',
    'home.warning.opportunity_lost': '商机丢单',
    'home.warning.contract_ending': '合同即将到期',
    'home.warning.revenue_falling': '收入下滑',
    'home.stage.research': '市场调研',
    'home.stage.planning': '方案',
    'home.stage.negotiation': '洽谈',
    'home.stage.contract': '签约',
    'home.stage.won': '赢单',
    'home.stage.lost': '输单',
    'home.tier.strategic': '战略客户',
    'home.tier.key': '重点客户',
    'home.tier.standard': '普通客户',
    'home.tier.none': '未定级',
    'home.band.healthy': '健康',
    'home.band.watch': '关注',
    'home.band.at_risk': '高风险',
    'home.band.none': '不跟踪（识别中或已流失）',
  },
  en: {
    'home.title': 'Home',
    'home.greeting': 'Hello, {name}',
    'home.period': 'Period',
    'home.period.month': 'This month',
    'home.period.quarter': 'This quarter',
    'home.period.year': 'This year',
    'home.periodRange': '{from} to {to}',
    'home.dashboard': 'Performance',
    'home.kpi.revenue': 'Signed revenue',
    'home.kpi.revenueTarget': '{attainment} of {target} target',
    'home.kpi.noTarget': 'No target for this period',
    'home.kpi.openPipeline': 'Open pipeline',
    'home.kpi.openDeals': '{count} open deals',
    'home.kpi.weightedPipeline': 'Weighted pipeline',
    'home.kpi.weightedShare': '{share} of the open amount',
    'home.kpi.winRate': 'Win rate',
    'home.kpi.wonLost': '{won} won · {lost} lost',
    'home.kpi.coverage': 'Visited within cadence',
    'home.kpi.coverageOf': '{within} of {accounts} accounts not overdue',
    'home.kpi.atRisk': 'Accounts at risk',
    'home.kpi.movedToAtRisk': '{count} moved to at risk this period',
    'home.attainmentTeam': 'Revenue attainment by team',
    'home.attainmentRep': 'Revenue attainment by rep',
    'home.attainmentChart': 'Revenue against target',
    'home.group': 'Group',
    'home.revenue': 'Revenue',
    'home.target': 'Target',
    'home.attainment': 'Attainment',
    'home.noTarget': 'no target',
    'home.noTargets': 'No revenue targets are set for this period.',
    'home.nothingCounted': 'Nothing counted in this period yet.',
    'home.funnel': 'Deal funnel',
    'home.funnelChart': 'Deals entering each stage',
    'home.stage': 'Stage',
    'home.entered': 'Entered',
    'home.conversion': 'To next stage',
    'home.averageDays': 'Avg. days',
    'home.funnelSummary': 'Win rate {rate} · won {amount} · average cycle {days} days',
    'home.coverage': 'Visit coverage by tier',
    'home.coverageChart': 'Accounts visited within their cadence',
    'home.tier': 'Tier',
    'home.withinCadence': 'Within cadence',
    'home.overdue': 'Overdue',
    'home.shares': 'Accounts / time share',
    'home.mostOverdue': 'Most overdue accounts',
    'home.visitDue': 'visit due {when}',
    'home.health': 'Account health',
    'home.bandCount': '{label}: ',
    'home.healthChart': 'Accounts by health band',
    'home.healthPartial': 'Counted over the first {count} accounts only.',
    'home.newWarnings': 'New warnings',
    'home.newWarningsTotal': '{count} since your last look',
    'home.noNewWarnings': 'No new warnings since your last look.',
    'home.moreWarnings': '{count} more in the worklist below.',
    'home.worklist': 'My worklist',
    'home.worklistTotal': '{count} items',
    'home.asOf': 'as of {time}',
    'home.worklistEmpty': 'Nothing to do right now.',
    'home.account': 'Account',
    'home.detail': 'What',
    'home.assignee': 'Owner',
    'home.due': 'Due',
    'home.state': 'Status',
    'home.unassigned': 'Unassigned',
    'home.overdueBadge': 'Overdue',
    'home.showAll': 'Show all {count}',
    'home.showFewer': 'Show fewer',
    'home.beyondLimit': '{count} more not listed (only the {limit} most urgent items are).',
    'home.markSeen': 'Mark warnings as seen',
    'home.seenDone': 'Warnings marked as seen',
    'home.kind.visit_due': 'Visits due',
    'home.kind.visit_overdue': 'Overdue visits',
    'home.kind.plan_action_due': 'Plan actions due',
    'home.kind.callback_due': 'Callbacks due',
    'home.kind.ticket_near_sla': 'Tickets near their SLA',
    'home.kind.ticket_past_sla': 'Tickets past their SLA',
    'home.kind.tier_proposal': 'Tier proposals to decide',
    'home.kind.at_risk_proposal': 'At-risk proposals to decide',
    'home.kind.resource_request': 'Resource requests to decide',
    'home.kind.contract_ending': 'Contracts ending',
    'home.kind.new_warning': 'New warnings',
    'home.severity.critical': 'Critical',
    'home.severity.warning': 'Warning',
    'home.severity.info': 'Info',
    'home.warning.no_recent_visit': 'No recent visit',
    'home.warning.visits_overdue': 'Visits overdue',
    'home.warning.low_satisfaction': 'Low satisfaction',
    'home.warning.satisfaction_falling': 'Satisfaction falling',
    'home.warning.open_complaint': 'Open complaint',
    'home.warning.ticket_past_sla': 'Ticket past SLA',
    'home.warning.no_decision_maker': 'No decision maker',
    'home.warning.no_champion': 'No champion',
    'home.warning.decision_maker_opposed': 'Decision maker opposed',
    'home.warning.opportunity_lost': 'Opportunity lost',
    'home.warning.contract_ending': 'Contract ending',
    'home.warning.revenue_falling': 'Revenue falling',
    'home.stage.research': 'Research',
    'home.stage.planning': 'Planning',
    'home.stage.negotiation': 'Negotiation',
    'home.stage.contract': 'Contract',
    'home.stage.won': 'Won',
    'home.stage.lost': 'Lost',
    'home.tier.strategic': 'Strategic',
    'home.tier.key': 'Key',
    'home.tier.standard': 'Standard',
    'home.tier.none': 'No tier',
    'home.band.healthy': 'Healthy',
    'home.band.watch': 'Watch',
    'home.band.at_risk': 'At risk',
    'home.band.none': 'Not followed (identified or lost)',
  },
});

/** A promise's outcome as `{ data }` or `{ error }`, never a rejection. */
function settle(promise) {
  return promise.then(
    (data) => ({ data }),
    (error) => ({ error }),
  );
}

/** An API figure as an attribute, exactly as the API answered it. */
function raw(value) {
  return value === null || value === undefined ? '' : String(value);
}

/** A label short enough for the 170-unit label column of a bar chart. */
function fit(text, width = 160) {
  let used = 0;
  let out = '';
  for (const char of text) {
    used += char.codePointAt(0) > 0x2e80 ? 12 : 7;
    if (used > width) return `${out}…`;
    out += char;
  }
  return out;
}

/**
 * Attainment bars whose names fit their column: a longer name is cut on
 * screen and kept whole in the row's data-label and tooltip.
 */
function bars(label, rows) {
  const svg = charts.attainmentBars(label, rows);
  for (const row of svg.querySelectorAll('g.bar-row')) {
    const text = row.querySelector('.axis-label');
    const name = text.textContent;
    const short = fit(name);
    if (short !== name) {
      text.textContent = short;
      const tooltip = document.createElementNS('http://www.w3.org/2000/svg', 'title');
      tooltip.textContent = name;
      row.prepend(tooltip);
    }
  }
  return svg;
}

function tierKey(tier) {
  return tier ?? 'none';
}

/** A card whose body is built from one request's outcome, or its problem. */
function reportCard(heading, result, build) {
  return h(
    'section',
    { class: 'card' },
    h('h2', null, heading),
    result.error ? problemView(result.error) : build(result.data),
  );
}

/** A table with row attributes: `columns` of `{ label, numeric?, class?, cell(row) }`. */
function grid(columns, rows, rowAttrs) {
  return h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'grid' },
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          columns.map((column) => h('th', { scope: 'col', class: cellClass(column) }, column.label)),
        ),
      ),
      h(
        'tbody',
        null,
        rows.length
          ? rows.map((row, index) =>
              h(
                'tr',
                rowAttrs ? rowAttrs(row, index) : null,
                columns.map((column) => h('td', { class: cellClass(column) }, column.cell(row))),
              ),
            )
          : h('tr', null, h('td', { colspan: columns.length, class: 'empty' }, t('common.none'))),
      ),
    ),
  );
}

function cellClass(column) {
  return [column.numeric ? 'num' : null, column.class].filter(Boolean).join(' ') || null;
}

/** A figure shown formatted, carrying the API's raw value. */
function figure(text, value) {
  return h('span', { 'data-value': raw(value) }, text);
}

// ---------------------------------------------------------------- loading

/** Accounts counted by health band over the list (no report counts them). */
async function healthBands() {
  const counts = { healthy: 0, watch: 0, at_risk: 0, none: 0 };
  let cursor;
  let pages = 0;
  let seen = 0;
  do {
    const page = await api.get('/accounts', { limit: 500, cursor });
    for (const account of page.items) counts[account.health_band ?? 'none'] += 1;
    seen += page.items.length;
    cursor = page.next_cursor;
    pages += 1;
  } while (cursor && pages < HEALTH_PAGES);
  return { counts, partial: Boolean(cursor), seen };
}

/** Every dashboard request at once, each settled on its own. */
async function loadDashboard(me, period) {
  const query = { period };
  const salesTeam = api.get('/reports/sales', { ...query, group_by: 'team' });
  const requests = {
    salesTotal: me.role === 'manager' ? salesTeam : api.get('/reports/sales', { ...query, group_by: 'branch' }),
    salesTeam,
    salesRep: api.get('/reports/sales', { ...query, group_by: 'rep' }),
    funnel: api.get('/reports/funnel', query),
    coverage: api.get('/reports/coverage', query),
    accounts: api.get('/reports/accounts', query),
    pipeline: api.get('/reports/pipeline'),
    health: healthBands(),
    warnings: api.get('/worklist', { kinds: 'new_warning', limit: WARNINGS_SHOWN }),
  };
  const entries = await Promise.all(
    Object.entries(requests).map(async ([name, promise]) => [name, await settle(promise)]),
  );
  return Object.fromEntries(entries);
}

// ------------------------------------------------------------- dashboard

function kpi(name, label, result, read) {
  if (result.error) {
    return h('div', { class: 'kpi' }, h('span', { class: 'label' }, label), problemView(result.error));
  }
  const shown = read(result.data);
  return h(
    'div',
    { class: 'kpi' },
    h('span', { class: 'label' }, label),
    h(
      'span',
      { class: 'value', 'data-testid': `kpi-${name}`, 'data-value': raw(shown.value), ...shown.attrs },
      shown.text,
    ),
    shown.extra || null,
    shown.sub ? h('span', { class: 'sub' }, shown.sub) : null,
  );
}

function kpis(reports) {
  return h(
    'div',
    { class: 'kpis home-kpis' },
    kpi('revenue', t('home.kpi.revenue'), reports.salesTotal, (sales) => {
      const goal = sales.total.revenue_target;
      const attainment = goal ? goal.attainment : null;
      return {
        value: sales.total.revenue,
        text: format.money(sales.total.revenue, sales.currency),
        attrs: { 'data-target': raw(goal && goal.target) },
        extra: goal
          ? h('progress', {
              max: 1,
              value: Math.min(Number(attainment ?? 0), 1),
              'aria-label': t('home.attainment'),
            })
          : null,
        sub: goal
          ? [
              h(
                'span',
                { 'data-testid': 'kpi-revenue-attainment', 'data-value': raw(attainment) },
                t('home.kpi.revenueTarget', {
                  attainment: format.percent(attainment, 1),
                  target: format.money(goal.target, sales.currency),
                }),
              ),
            ]
          : t('home.kpi.noTarget'),
      };
    }),
    kpi('open-pipeline', t('home.kpi.openPipeline'), reports.pipeline, (pipeline) => {
      const open = pipeline.stages.filter((stage) => !['won', 'lost'].includes(stage.stage));
      return {
        value: pipeline.open_amount,
        text: format.money(pipeline.open_amount, pipeline.currency),
        sub: t('home.kpi.openDeals', { count: format.number(open.reduce((sum, stage) => sum + stage.count, 0)) }),
      };
    }),
    kpi('weighted-pipeline', t('home.kpi.weightedPipeline'), reports.pipeline, (pipeline) => ({
      value: pipeline.open_weighted_amount,
      text: format.money(pipeline.open_weighted_amount, pipeline.currency),
      sub: Number(pipeline.open_amount)
        ? t('home.kpi.weightedShare', {
            share: format.percent(Number(pipeline.open_weighted_amount) / Number(pipeline.open_amount)),
          })
        : null,
    })),
    kpi('win-rate', t('home.kpi.winRate'), reports.funnel, (funnel) => ({
      value: funnel.total.win_rate,
      text: format.percent(funnel.total.win_rate),
      sub: t('home.kpi.wonLost', { won: format.number(funnel.total.won), lost: format.number(funnel.total.lost) }),
    })),
    kpi('coverage', t('home.kpi.coverage'), reports.coverage, (coverage) => ({
      value: coverage.total.within_cadence_share,
      text: format.percent(coverage.total.within_cadence_share),
      sub: t('home.kpi.coverageOf', {
        within: format.number(coverage.total.within_cadence),
        accounts: format.number(coverage.total.accounts),
      }),
    })),
    kpi('at-risk', t('home.kpi.atRisk'), reports.accounts, (accounts) => {
      const atRisk = accounts.total.by_stage.find((entry) => entry.stage === 'at_risk');
      const count = atRisk ? atRisk.count : 0;
      return {
        value: count,
        text: format.number(count),
        attrs: count ? { class: 'value bad' } : null,
        sub: t('home.kpi.movedToAtRisk', { count: format.number(accounts.total.moved_to_at_risk) }),
      };
    }),
  );
}

function attainmentCard(heading, testid, result) {
  return reportCard(heading, result, (sales) => {
    if (!sales.rows.length) return h('p', { class: 'note' }, t('home.nothingCounted'));
    const rows = sales.rows.map((row) => ({
      label: row.group.name,
      value: row.revenue,
      target: row.revenue_target ? row.revenue_target.target : null,
      text: row.revenue_target ? format.percent(row.revenue_target.attainment, 1) : t('home.noTarget'),
    }));
    return h(
      'div',
      { 'data-testid': testid, class: 'chart-box' },
      sales.rows.some((row) => row.revenue_target) ? null : h('p', { class: 'note' }, t('home.noTargets')),
      bars(`${heading}: ${t('home.attainmentChart')}`, rows),
      grid(
        [
          { label: t('home.group'), cell: (row) => row.group.name },
          {
            label: t('home.revenue'),
            numeric: true,
            cell: (row) => figure(format.money(row.revenue, sales.currency), row.revenue),
          },
          {
            label: t('home.target'),
            numeric: true,
            cell: (row) =>
              row.revenue_target
                ? figure(format.money(row.revenue_target.target, sales.currency), row.revenue_target.target)
                : '—',
          },
          {
            label: t('home.attainment'),
            numeric: true,
            cell: (row) =>
              row.revenue_target
                ? figure(format.percent(row.revenue_target.attainment, 1), row.revenue_target.attainment)
                : '—',
          },
        ],
        sales.rows,
        (row) => ({ 'data-testid': 'attainment-row', 'data-group-id': raw(row.group.id) }),
      ),
    );
  });
}

function funnelCard(result) {
  return reportCard(t('home.funnel'), result, (funnel) => {
    const total = funnel.total;
    const stages = [
      ...total.stages.map((stage) => ({ stage: stage.stage, count: stage.entered })),
      { stage: 'won', count: total.won },
    ].map((entry) => ({
      label: t(`home.stage.${entry.stage}`),
      count: entry.count,
      text: `${t(`home.stage.${entry.stage}`)} · ${format.number(entry.count)}`,
    }));
    return h(
      'div',
      { 'data-testid': 'chart-funnel', class: 'chart-box' },
      charts.funnel(t('home.funnelChart'), stages),
      grid(
        [
          { label: t('home.stage'), cell: (stage) => t(`home.stage.${stage.stage}`) },
          { label: t('home.entered'), numeric: true, cell: (stage) => figure(format.number(stage.entered), stage.entered) },
          {
            label: t('home.conversion'),
            numeric: true,
            cell: (stage) =>
              figure(`${format.percent(stage.conversion)} → ${t(`home.stage.${stage.next}`)}`, stage.conversion),
          },
          {
            label: t('home.averageDays'),
            numeric: true,
            cell: (stage) => figure(format.number(stage.average_days, 1), stage.average_days),
          },
        ],
        total.stages,
        (stage) => ({ 'data-testid': 'funnel-row', 'data-stage': stage.stage }),
      ),
      h(
        'p',
        { class: 'note' },
        t('home.funnelSummary', {
          rate: format.percent(total.win_rate),
          amount: format.money(total.won_amount, funnel.currency),
          days: format.number(total.average_cycle_days, 1),
        }),
      ),
    );
  });
}

function coverageCard(result) {
  return reportCard(t('home.coverage'), result, (coverage) => {
    const tiers = coverage.total.tiers;
    return h(
      'div',
      { 'data-testid': 'chart-coverage', class: 'chart-box' },
      bars(
        t('home.coverageChart'),
        tiers.map((tier) => ({
          label: t(`home.tier.${tierKey(tier.tier)}`),
          value: tier.within_cadence,
          target: tier.accounts,
          text: `${format.number(tier.within_cadence)} / ${format.number(tier.accounts)}`,
        })),
      ),
      grid(
        [
          { label: t('home.tier'), cell: (tier) => t(`home.tier.${tierKey(tier.tier)}`) },
          {
            label: t('home.withinCadence'),
            numeric: true,
            cell: (tier) => [
              figure(format.number(tier.within_cadence), tier.within_cadence),
              ' / ',
              figure(format.number(tier.accounts), tier.accounts),
            ],
          },
          { label: t('home.overdue'), numeric: true, cell: (tier) => figure(format.number(tier.overdue), tier.overdue) },
          {
            label: t('home.shares'),
            numeric: true,
            cell: (tier) => [
              figure(format.percent(tier.account_share), tier.account_share),
              ' / ',
              figure(format.percent(tier.time_share), tier.time_share),
            ],
          },
        ],
        tiers,
        (tier) => ({ 'data-testid': 'coverage-row', 'data-tier': tierKey(tier.tier) }),
      ),
      coverage.overdue.length
        ? [
            h('h3', null, t('home.mostOverdue')),
            h(
              'ul',
              { class: 'home-list' },
              coverage.overdue.slice(0, 5).map((account) =>
                h(
                  'li',
                  null,
                  h('a', { href: `#/accounts/${account.id}` }, account.name),
                  h(
                    'time',
                    { datetime: account.next_visit_due, title: format.dateTime(account.next_visit_due), class: 'when bad' },
                    t('home.visitDue', { when: format.relative(account.next_visit_due) }),
                  ),
                ),
              ),
            ),
          ]
        : null,
    );
  });
}

function healthCard(result) {
  return reportCard(t('home.health'), result, ({ counts, partial, seen }) =>
    h(
      'div',
      { 'data-testid': 'chart-health', class: 'chart-box' },
      charts.shareBar(
        t('home.healthChart'),
        BANDS.map(([band, tone]) => ({ label: t(`home.band.${band}`), count: counts[band], tone })),
      ),
      h(
        'ul',
        { class: 'legend' },
        BANDS.map(([band, tone]) =>
          h(
            'li',
            { 'data-testid': `health-${band}`, 'data-value': raw(counts[band]) },
            h('span', { class: `swatch ${tone}`, 'aria-hidden': 'true' }),
            t('home.bandCount', { label: t(`home.band.${band}`) }),
            h('strong', null, format.number(counts[band])),
          ),
        ),
      ),
      partial ? h('p', { class: 'note' }, t('home.healthPartial', { count: format.number(seen) })) : null,
    ),
  );
}

/** A new warning's code and severity, read off its reason ("code (severity) at ..."). */
function warningOf(item) {
  const match = /^([a-z_]+) \((info|warning|critical)\)/.exec(item.reason);
  return match ? { code: match[1], severity: match[2] } : null;
}

function warningLabel(item) {
  const warning = warningOf(item);
  if (!warning) return [];
  const key = `home.warning.${warning.code}`;
  return [
    badge(t(`home.severity.${warning.severity}`), SEVERITY_TONES[warning.severity]),
    ' ',
    h('strong', null, has(key) ? t(key) : warning.code),
  ];
}

function warningsCard(result) {
  return reportCard(
    t('home.newWarnings'),
    result,
    (worklist) =>
      h(
        'div',
        { 'data-testid': 'home-new-warnings' },
        h(
          'p',
          { class: 'note', 'data-testid': 'new-warnings-total', 'data-value': raw(worklist.total) },
          worklist.total ? t('home.newWarningsTotal', { count: format.number(worklist.total) }) : t('home.noNewWarnings'),
        ),
        worklist.items.length
          ? h(
              'ul',
              { class: 'home-list' },
              worklist.items.map((item) =>
                h(
                  'li',
                  { 'data-testid': 'new-warning', 'data-overdue': String(item.overdue) },
                  h('span', null, warningLabel(item)),
                  h('a', { href: `#/accounts/${item.account_id}` }, item.account_name),
                  h('time', { datetime: item.due_at, title: format.dateTime(item.due_at), class: 'when' }, format.relative(item.due_at)),
                ),
              ),
            )
          : null,
        worklist.total > worklist.items.length
          ? h('p', { class: 'note' }, t('home.moreWarnings', { count: format.number(worklist.total - worklist.items.length) }))
          : null,
      ),
  );
}

function dashboard(reports) {
  return h(
    'section',
    { class: 'home-dashboard', 'aria-label': t('home.dashboard') },
    kpis(reports),
    h(
      'div',
      { class: 'cards home-cards' },
      attainmentCard(t('home.attainmentTeam'), 'chart-attainment-team', reports.salesTeam),
      attainmentCard(t('home.attainmentRep'), 'chart-attainment-rep', reports.salesRep),
      funnelCard(reports.funnel),
      coverageCard(reports.coverage),
      healthCard(reports.health),
      warningsCard(reports.warnings),
    ),
  );
}

function periodControl(ctx, period, sales) {
  const control = select(
    'period',
    PERIODS.map((value) => [value, t(`home.period.${value}`)]),
    period,
  );
  control.setAttribute('data-testid', 'home-period');
  control.addEventListener('change', () => ctx.navigate('/', { period: control.value }));
  const range = sales.data
    ? t('home.periodRange', { from: format.date(sales.data.period.from), to: format.date(sales.data.period.to) })
    : null;
  return field(t('home.period'), control, range);
}

// -------------------------------------------------------------- worklist

/** Each kind's count over every item, past the limit too. */
function countsByKind(worklist) {
  const counts = {};
  for (const person of worklist.by_assignee) {
    for (const [kind, count] of Object.entries(person.by_kind)) counts[kind] = (counts[kind] || 0) + count;
  }
  return counts;
}

function markSeenButton(ctx, asOf) {
  const slot = h('div');
  const button = h(
    'button',
    {
      type: 'button',
      class: 'secondary',
      'data-testid': 'worklist-mark-seen',
      onclick: async () => {
        button.disabled = true;
        try {
          await api.call('POST', '/worklist/seen', { body: { through: asOf } });
          notice(t('home.seenDone'));
          ctx.refresh();
        } catch (error) {
          slot.replaceChildren(problemView(error));
          button.disabled = false;
        }
      },
    },
    t('home.markSeen'),
  );
  return h('div', { class: 'seen-action' }, button, slot);
}

function dueCell(item) {
  return h(
    'time',
    { datetime: item.due_at, title: format.dateTime(item.due_at) },
    format.relative(item.due_at),
    h('small', { class: 'when' }, format.dateTime(item.due_at)),
  );
}

function worklistGroup(ctx, worklist, kind, count, items, showAssignee) {
  const columns = [
    { label: t('home.account'), class: 'col-account', cell: (item) => h('a', { href: `#/accounts/${item.account_id}` }, item.account_name) },
    {
      label: t('home.detail'),
      class: 'col-what',
      cell: (item) => [
        kind === 'new_warning' ? h('div', null, warningLabel(item)) : null,
        h('span', { class: 'reason', lang: 'en' }, item.reason),
      ],
    },
    showAssignee ? { label: t('home.assignee'), class: 'col-owner', cell: (item) => item.assignee_name || t('home.unassigned') } : null,
    { label: t('home.due'), class: 'col-due', cell: dueCell },
    {
      label: t('home.state'),
      class: 'col-state',
      cell: (item) => (item.overdue ? badge(t('home.overdueBadge'), 'bad') : null),
    },
  ].filter(Boolean);
  const table = grid(columns, items, (item, index) => ({
    'data-testid': 'worklist-item',
    'data-kind': item.kind,
    'data-overdue': String(item.overdue),
    'data-due-at': item.due_at,
    hidden: index >= GROUP_ROWS_SHOWN,
  }));
  let more = null;
  if (items.length > GROUP_ROWS_SHOWN) {
    let expanded = false;
    more = h(
      'button',
      {
        type: 'button',
        class: 'secondary small',
        'data-testid': `worklist-more-${kind}`,
        'aria-expanded': 'false',
        onclick: () => {
          expanded = !expanded;
          table.querySelectorAll('tbody tr').forEach((row, index) => {
            row.hidden = !expanded && index >= GROUP_ROWS_SHOWN;
          });
          more.setAttribute('aria-expanded', String(expanded));
          more.textContent = expanded ? t('home.showFewer') : t('home.showAll', { count: items.length });
        },
      },
      t('home.showAll', { count: items.length }),
    );
  }
  return h(
    'section',
    { class: 'worklist-group', 'data-testid': `worklist-group-${kind}`, 'data-count': raw(count) },
    h(
      'div',
      { class: 'group-head' },
      h('h3', null, t(`home.kind.${kind}`), ' ', h('span', { class: 'count' }, format.number(count))),
      kind === 'new_warning' ? markSeenButton(ctx, worklist.as_of) : null,
    ),
    table,
    more,
    count > items.length
      ? h(
          'p',
          { class: 'note' },
          t('home.beyondLimit', { count: format.number(count - items.length), limit: format.number(worklist.items.length) }),
        )
      : null,
  );
}

function worklistCard(ctx, result) {
  const heading = h('h2', null, t('home.worklist'));
  if (result.error) return h('section', { class: 'card', 'data-testid': 'worklist' }, heading, problemView(result.error));
  const worklist = result.data;
  const counts = countsByKind(worklist);
  const order = [
    ...new Set([...worklist.items.map((item) => item.kind), ...KINDS.filter((kind) => counts[kind])]),
  ];
  const showAssignee = worklist.items.some((item) => item.assignee_id !== ctx.me.id);
  return h(
    'section',
    { class: 'card home-worklist', 'data-testid': 'worklist' },
    h(
      'div',
      { class: 'card-head' },
      heading,
      h(
        'span',
        { class: 'note' },
        h('strong', { 'data-testid': 'worklist-total', 'data-value': raw(worklist.total) }, t('home.worklistTotal', { count: format.number(worklist.total) })),
        ' · ',
        h('time', { datetime: worklist.as_of }, t('home.asOf', { time: format.dateTime(worklist.as_of) })),
      ),
    ),
    order.length
      ? order.map((kind) =>
          worklistGroup(
            ctx,
            worklist,
            kind,
            counts[kind] || 0,
            worklist.items.filter((item) => item.kind === kind),
            showAssignee,
          ),
        )
      : h('p', { class: 'empty-state' }, t('home.worklistEmpty')),
  );
}

// ------------------------------------------------------------------ page

export async function render(ctx) {
  const withDashboard = DASHBOARD_ROLES.includes(ctx.me.role);
  // A year's target is the one every key-account team sets; month and
  // quarter are a choice away.
  const period = ctx.query.get('period') || 'year';
  const [worklist, reports] = await Promise.all([
    settle(api.get('/worklist')),
    withDashboard ? loadDashboard(ctx.me, period) : null,
  ]);
  return h(
    'section',
    { class: 'page home' },
    h(
      'div',
      { class: 'home-head' },
      h('div', null, h('h1', null, t('home.title')), h('p', { class: 'note' }, t('home.greeting', { name: ctx.me.display_name }))),
      reports ? periodControl(ctx, period, reports.salesTotal) : null,
    ),
    reports ? dashboard(reports) : null,
    worklistCard(ctx, worklist),
  );
}
