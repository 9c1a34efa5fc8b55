// The service desk (#/service: the service role, managers, directors,
// admins): the ticket queue with SLA timers (open tickets first, by SLA
// due), the callbacks due, and satisfaction. Tickets move through the API's
// life cycle (open → assigned → in_progress → resolved → closed, reopen
// from resolved); a complaint closes only after a done `after_ticket`
// callback, so the page shows the API's refusal (callback_required) and
// lets the user record the callback, then close again.
//
// data-testid:
//   service-period        period select of the satisfaction report
//   satisfaction          the satisfaction card (KPIs `service-kpi` with data-kpi, trend chart `satisfaction-trend`)
//   tickets-table         the queue; rows `ticket-row` with data-id, data-kind (type), data-status,
//                         data-sla (ok|near|breached|met|missed)
//   ticket-advance        per row: the next step (data-to: assigned, in_progress, resolved, or in_progress to reopen)
//   ticket-close          per row: close (asks for a resolution when there is none)
//   ticket-callback       per row: record the customer's callback (done, with satisfaction)
//   ticket-problem        where the API's refusal of a ticket or callback action is shown
//   callbacks-table       planned callbacks due within 7 days or overdue; rows `callback-row` with data-id
//   callback-complete     per row: mark done with satisfaction
//   callback-missed       per row: mark missed
// In the dialogs: `dialog-resolution`, `dialog-satisfaction`, `dialog-comments`, `dialog-submit`.

import * as api from '../api.js';
import { attainmentBars } from '../charts.js';
import * as format from '../format.js';
import { register, t } from '../i18n.js';
import { badge, card, confirmDialog, field, h, notice, problemView, select } from '../ui.js';

export const title = 'service.title';

const PERIODS = ['month', 'quarter', 'year'];
const OPEN = ['open', 'assigned', 'in_progress'];
const NEAR_SLA_HOURS = 8;
const CALLBACK_WINDOW_DAYS = 7;
const SOON_DAYS = 2;
const DAY = 86_400_000;
const READS_USERS = ['manager', 'director', 'admin'];

register({
  'zh-CN': {
    'service.title': '客服工作台',
    'service.period': '满意度期间',
    'service.period.month': '本月',
    'service.period.quarter': '本季度',
    'service.period.year': '本年度',
    'service.queue': '工单队列',
    'service.queue_hint': '未解决的工单在前，按 SLA 到期时间排序。',
    'service.col.ticket': '工单',
    'service.col.account': '客户',
    'service.col.type': '类型',
    'service.col.severity': '严重程度',
    'service.col.status': '状态',
    'service.col.sla': 'SLA',
    'service.col.callback': '回访',
    'service.col.assignee': '处理人',
    'service.col.actions': '操作',
    'service.col.scheduled': '计划日期',
    'service.col.kind': '回访类型',
    'service.col.owner': '负责人',
    'service.type.complaint': '投诉',
    'service.type.service_request': '服务请求',
    'service.type.question': '咨询',
    'service.severity.critical': '紧急',
    'service.severity.high': '高',
    'service.severity.medium': '中',
    'service.severity.low': '低',
    'service.status.open': '待处理',
    'service.status.assigned': '已分派',
    'service.status.in_progress': '处理中',
    'service.status.resolved': '已解决',
    'service.status.closed': '已关闭',
    'service.sla.left': '{when}到期',
    'service.sla.overdue': '已超时 · {when}',
    'service.sla.met': '按时解决',
    'service.sla.missed': '超时解决',
    'service.callback.none': '未回访',
    'service.callback.planned': '已计划 {date}',
    'service.callback.done': '已回访 · 满意度 {score}/5',
    'service.callback.missed': '未接通',
    'service.callback_kind.routine': '例行回访',
    'service.callback_kind.after_sale': '售后回访',
    'service.callback_kind.after_ticket': '工单回访',
    'service.due.overdue': '已逾期',
    'service.due.today': '今天',
    'service.due.soon': '即将到期',
    'service.due.later': '已计划',
    'service.me': '我',
    'service.unassigned': '未分派',
    'service.advance.assigned': '接单',
    'service.advance.in_progress': '开始处理',
    'service.advance.resolved': '解决',
    'service.advance.reopen': '重新打开',
    'service.close': '关闭',
    'service.record_callback': '记录回访',
    'service.callbacks': '待回访',
    'service.callbacks_hint': '计划在 {days} 天内或已逾期的回访。',
    'service.complete': '完成',
    'service.missed': '未接通',
    'service.resolution': '解决方案',
    'service.resolve_title': '解决工单：{title}',
    'service.close_title': '关闭工单：{title}',
    'service.close_confirm': '关闭后工单不再出现在处理队列中。',
    'service.callback_title': '记录回访：{title}',
    'service.complete_title': '完成回访：{account}',
    'service.satisfaction_score': '客户满意度（1-5）',
    'service.score.1': '1 - 非常不满意',
    'service.score.2': '2 - 不满意',
    'service.score.3': '3 - 一般',
    'service.score.4': '4 - 满意',
    'service.score.5': '5 - 非常满意',
    'service.comments': '客户反馈',
    'service.choose': '请选择…',
    'service.required': '请填写此项。',
    'service.moved': '工单“{title}”已改为{status}。',
    'service.closed': '工单“{title}”已关闭。',
    'service.callback_recorded': '回访已记录。',
    'service.callback_missed': '回访已标记为未接通。',
    'service.problem_for': '{subject}：',
    'service.hint.callback_required': '投诉须先完成工单回访才能关闭：请点击该工单的“记录回访”，然后再次关闭。',
    'service.satisfaction': '客户满意度',
    'service.kpi.average_satisfaction': '平均满意度',
    'service.kpi.low_satisfaction': '低满意度回访',
    'service.kpi.complaints': '未结投诉 / 全部投诉',
    'service.kpi.open_tickets': '未解决工单',
    'service.kpi.sla_breached': '超出 SLA',
    'service.kpi.sla_compliance': 'SLA 达标率（期间）',
    'service.kpi.resolution_hours': '平均解决时长（小时）',
    'service.kpi.callbacks_done': '期间完成回访',
    'service.trend': '各月平均满意度',
    'service.trend_text': '{score} · {count} 次',
    'service.trend.up': '较上月上升',
    'service.trend.down': '较上月下降',
    'service.trend.flat': '与上月持平',
    'service.trend.none': '本期间还没有已完成的回访。',
    'service.by_type': '期间新建工单：{complaint} 投诉，{request} 服务请求，{question} 咨询',
  },
  en: {
    'service.title': 'Service desk',
    'service.period': 'Satisfaction period',
    'service.period.month': 'This month',
    'service.period.quarter': 'This quarter',
    'service.period.year': 'This year',
    'service.queue': 'Ticket queue',
    'service.queue_hint': 'Tickets still to be worked first, by SLA due time.',
    'service.col.ticket': 'Ticket',
    'service.col.account': 'Account',
    'service.col.type': 'Kind',
    'service.col.severity': 'Severity',
    'service.col.status': 'Status',
    'service.col.sla': 'SLA',
    'service.col.callback': 'Callback',
    'service.col.assignee': 'Assignee',
    'service.col.actions': 'Actions',
    'service.col.scheduled': 'Scheduled',
    'service.col.kind': 'Kind',
    'service.col.owner': 'Owner',
    'service.type.complaint': 'Complaint',
    'service.type.service_request': 'Service request',
    'service.type.question': 'Question',
    'service.severity.critical': 'Critical',
    'service.severity.high': 'High',
    'service.severity.medium': 'Medium',
    'service.severity.low': 'Low',
    'service.status.open': 'Open',
    'service.status.assigned': 'Assigned',
    'service.status.in_progress': 'In progress',
    'service.status.resolved': 'Resolved',
    'service.status.closed': 'Closed',
    'service.sla.left': 'Due {when}',
    'service.sla.overdue': 'Overdue · {when}',
    'service.sla.met': 'Met',
    'service.sla.missed': 'Missed',
    'service.callback.none': 'None yet',
    'service.callback.planned': 'Planned {date}',
    'service.callback.done': 'Done · satisfaction {score}/5',
    'service.callback.missed': 'Missed',
    'service.callback_kind.routine': 'Routine',
    'service.callback_kind.after_sale': 'After sale',
    'service.callback_kind.after_ticket': 'After ticket',
    'service.due.overdue': 'Overdue',
    'service.due.today': 'Today',
    'service.due.soon': 'Due soon',
    'service.due.later': 'Planned',
    'service.me': 'Me',
    'service.unassigned': 'Unassigned',
    'service.advance.assigned': 'Take',
    'service.advance.in_progress': 'Start',
    'service.advance.resolved': 'Resolve',
    'service.advance.reopen': 'Reopen',
    'service.close': 'Close',
    'service.record_callback': 'Record callback',
    'service.callbacks': 'Callbacks due',
    'service.callbacks_hint': 'Planned within {days} days, or overdue.',
    'service.complete': 'Done',
    'service.missed': 'Missed',
    'service.resolution': 'Resolution',
    'service.resolve_title': 'Resolve: {title}',
    'service.close_title': 'Close: {title}',
    'service.close_confirm': 'A closed ticket leaves the queue.',
    'service.callback_title': 'Record the callback: {title}',
    'service.complete_title': 'Callback done: {account}',
    'service.satisfaction_score': 'Customer satisfaction (1-5)',
    'service.score.1': '1 - Very dissatisfied',
    'service.score.2': '2 - Dissatisfied',
    'service.score.3': '3 - Neutral',
    'service.score.4': '4 - Satisfied',
    'service.score.5': '5 - Very satisfied',
    'service.comments': 'What the customer said',
    'service.choose': 'Choose…',
    'service.required': 'Fill this in.',
    'service.moved': 'Ticket "{title}" is now {status}.',
    'service.closed': 'Ticket "{title}" is closed.',
    'service.callback_recorded': 'Callback recorded.',
    'service.callback_missed': 'Callback marked missed.',
    'service.problem_for': '{subject}:',
    'service.hint.callback_required':
      'A complaint closes only after its callback: use "Record callback" on the ticket, then close it again.',
    'service.satisfaction': 'Satisfaction',
    'service.kpi.average_satisfaction': 'Average satisfaction',
    'service.kpi.low_satisfaction': 'Low-satisfaction callbacks',
    'service.kpi.complaints': 'Open / all complaints',
    'service.kpi.open_tickets': 'Open tickets',
    'service.kpi.sla_breached': 'SLA breached',
    'service.kpi.sla_compliance': 'SLA compliance (period)',
    'service.kpi.resolution_hours': 'Mean hours to resolve',
    'service.kpi.callbacks_done': 'Callbacks done (period)',
    'service.trend': 'Average satisfaction by month',
    'service.trend_text': '{score} · {count}×',
    'service.trend.up': 'Up on the month before',
    'service.trend.down': 'Down on the month before',
    'service.trend.flat': 'Level with the month before',
    'service.trend.none': 'No callbacks done in this period yet.',
    'service.by_type': 'Opened in the period: {complaint} complaints, {request} service requests, {question} questions',
  },
});

const today = () => new Date().toISOString().slice(0, 10);

/** Where a ticket stands against its SLA: ok, near, breached (open) or met, missed (done). */
function slaState(ticket) {
  if (!OPEN.includes(ticket.status)) return ticket.sla_breached ? 'missed' : 'met';
  const left = new Date(ticket.sla_due_at).getTime() - Date.now();
  if (ticket.sla_breached || left <= 0) return 'breached';
  return left <= NEAR_SLA_HOURS * 3_600_000 ? 'near' : 'ok';
}

function slaBadge(ticket, state) {
  const when = format.relative(ticket.sla_due_at);
  const [text, tone] = {
    ok: [t('service.sla.left', { when }), 'ok'],
    near: [t('service.sla.left', { when }), 'warn'],
    breached: [t('service.sla.overdue', { when }), 'bad'],
    met: [t('service.sla.met'), 'muted'],
    missed: [t('service.sla.missed'), 'bad'],
  }[state];
  return h('span', { title: format.dateTime(ticket.sla_due_at) }, badge(text, tone));
}

const SEVERITY_TONE = { critical: 'bad', high: 'warn', medium: 'muted', low: 'muted' };
const SEVERITY_RANK = { critical: 0, high: 1, medium: 2, low: 3 };

/** Open ones first by SLA due (then severity); the others most recently finished first. */
function queueOrder(a, b) {
  const aOpen = OPEN.includes(a.status);
  const bOpen = OPEN.includes(b.status);
  if (aOpen !== bOpen) return aOpen ? -1 : 1;
  if (aOpen) {
    return a.sla_due_at.localeCompare(b.sla_due_at) || SEVERITY_RANK[a.severity] - SEVERITY_RANK[b.severity];
  }
  const done = (x) => x.closed_at || x.resolved_at || x.updated_at;
  return done(b).localeCompare(done(a));
}

/** The next step of the life cycle from a status (closing has its own button). */
function nextStep(ticket) {
  return {
    open: ['assigned', 'service.advance.assigned'],
    assigned: ['in_progress', 'service.advance.in_progress'],
    in_progress: ['resolved', 'service.advance.resolved'],
    resolved: ['in_progress', 'service.advance.reopen'],
  }[ticket.status];
}

/** The latest callback after a ticket, done first. */
function ticketCallback(callbacks) {
  return callbacks.find((c) => c.status === 'done') || callbacks.find((c) => c.status === 'planned') || callbacks[0];
}

function callbackBadge(callback) {
  if (!callback) return badge(t('service.callback.none'), 'muted');
  if (callback.status === 'done') {
    const text = t('service.callback.done', { score: callback.satisfaction ?? '—' });
    return badge(text, callback.low_satisfaction ? 'bad' : 'ok');
  }
  if (callback.status === 'planned') {
    return badge(t('service.callback.planned', { date: format.date(callback.scheduled_on) }), 'warn');
  }
  return badge(t('service.callback.missed'), 'bad');
}

/**
 * A dialog with a form: `controls` are `[name, label, element]`; resolves
 * the values by name, or null when cancelled.
 */
function formDialog(heading, controls, submitLabel) {
  return new Promise((resolve) => {
    const message = h('p', { class: 'hint', role: 'alert' });
    const form = h(
      'form',
      { method: 'dialog' },
      controls.map(([, label, control]) => field(label, control)),
      message,
      h(
        'div',
        { class: 'buttons' },
        h('button', { type: 'button', class: 'secondary', onclick: () => dialog.close('cancel') }, t('common.cancel')),
        h('button', { type: 'submit', class: 'primary', value: 'confirm', 'data-testid': 'dialog-submit' }, submitLabel),
      ),
    );
    const dialog = h(
      'dialog',
      { class: 'confirm service-dialog', 'aria-labelledby': 'service-dialog-title' },
      h('h2', { id: 'service-dialog-title' }, heading),
      form,
    );
    form.addEventListener('submit', (event) => {
      const missing = controls.find(([, , control]) => control.required && !control.value.trim());
      if (missing) {
        event.preventDefault();
        message.textContent = t('service.required');
        missing[2].focus();
      }
    });
    dialog.addEventListener('close', () => {
      dialog.remove();
      const values = controls.map(([name, , control]) => [name, control.value.trim()]);
      resolve(dialog.returnValue === 'confirm' ? Object.fromEntries(values) : null);
    });
    document.body.append(dialog);
    dialog.showModal();
  });
}

/** Asks how the ticket was resolved; resolves the text, or null when cancelled. */
async function askResolution(ticket, heading, submitLabel) {
  const control = h('textarea', { name: 'resolution', rows: 3, required: true, 'data-testid': 'dialog-resolution' });
  control.value = ticket.resolution || '';
  const values = await formDialog(heading, [['resolution', t('service.resolution'), control]], submitLabel);
  return values ? values.resolution : null;
}

/** A small button with a test id. */
function button(testid, label, onClick, extra = {}) {
  const element = h('button', { type: 'button', class: 'secondary', 'data-testid': testid, ...extra }, label);
  element.addEventListener('click', () => onClick(element));
  return element;
}

function satisfactionControls() {
  const score = select(
    'satisfaction',
    [['', t('service.choose')], ...[5, 4, 3, 2, 1].map((n) => [n, t(`service.score.${n}`)])],
    '',
  );
  score.required = true;
  score.dataset.testid = 'dialog-satisfaction';
  return [
    ['satisfaction', t('service.satisfaction_score'), score],
    ['comments', t('service.comments'), h('textarea', { name: 'comments', rows: 3, 'data-testid': 'dialog-comments' })],
  ];
}


function kpi(key, value, tone) {
  return h(
    'div',
    { class: `kpi${tone ? ` ${tone}` : ''}`, 'data-testid': 'service-kpi', 'data-kpi': key },
    h('span', { class: 'value' }, value),
    h('span', { class: 'label' }, t(`service.kpi.${key}`)),
  );
}

function satisfactionCard(summary, report, periodSelect) {
  const total = report.total;
  const months = total.satisfaction_trend.filter((m) => m.callbacks_done > 0 && m.satisfaction_average !== null);
  let trend = null;
  if (months.length >= 2) {
    const [before, last] = months.slice(-2).map((m) => m.satisfaction_average);
    trend = last > before ? ['up', 'ok'] : last < before ? ['down', 'bad'] : ['flat', 'muted'];
  }
  const typeCount = (type) => format.number((total.by_type.find((x) => x.ticket_type === type) || { count: 0 }).count);
  const open = summary.open_tickets;
  const chart = months.length
    ? attainmentBars(
        t('service.trend'),
        months.map((m) => ({
          label: m.month,
          value: m.satisfaction_average,
          target: 5,
          text: t('service.trend_text', {
            score: format.number(m.satisfaction_average, 2),
            count: format.number(m.callbacks_done),
          }),
        })),
      )
    : null;
  if (chart) chart.dataset.testid = 'satisfaction-trend';
  const average = summary.average_satisfaction;
  return h(
    'section',
    { class: 'card', 'data-testid': 'satisfaction' },
    h('h2', null, t('service.satisfaction')),
    h('div', { class: 'filters' }, field(t('service.period'), periodSelect)),
    h(
      'div',
      { class: 'kpis' },
      kpi(
        'average_satisfaction',
        average === null ? '—' : `${format.number(average, 2)} / 5`,
        average === null ? null : average < 3 ? 'bad' : average < 4 ? 'warn' : 'ok',
      ),
      kpi('low_satisfaction', format.number(summary.low_satisfaction_callbacks), summary.low_satisfaction_callbacks ? 'bad' : null),
      kpi(
        'complaints',
        `${format.number(summary.open_complaints)} / ${format.number(summary.complaints)}`,
        summary.open_complaints ? 'warn' : null,
      ),
      kpi('open_tickets', format.number(open.critical + open.high + open.medium + open.low)),
      kpi('sla_breached', format.number(summary.sla_breached), summary.sla_breached ? 'bad' : null),
      kpi('sla_compliance', format.percent(total.sla_compliance)),
      kpi('resolution_hours', format.number(summary.average_resolution_hours, 1)),
      kpi('callbacks_done', format.number(total.callbacks_done)),
    ),
    h('h3', null, t('service.trend')),
    trend
      ? h('p', { 'data-testid': 'satisfaction-direction', 'data-trend': trend[0] }, badge(t(`service.trend.${trend[0]}`), trend[1]))
      : null,
    chart || h('p', { class: 'hint' }, t('service.trend.none')),
    h(
      'p',
      { class: 'hint' },
      t('service.by_type', {
        complaint: typeCount('complaint'),
        request: typeCount('service_request'),
        question: typeCount('question'),
      }),
    ),
  );
}

export async function render(ctx) {
  const period = PERIODS.includes(ctx.query.get('period')) ? ctx.query.get('period') : 'year';
  const [tickets, callbacks, summary, report, accounts, users] = await Promise.all([
    api.getAll('/tickets'),
    api.getAll('/callbacks'),
    api.get('/service/summary'),
    api.get('/reports/service', { period }),
    api.getAll('/accounts'),
    // The API shows users to managers and above only (403 otherwise): names then stay unknown.
    READS_USERS.includes(ctx.me.role) ? api.getAll('/users') : [],
  ]);

  const accountNames = new Map(accounts.map((a) => [a.id, a.name]));
  const userNames = new Map(users.map((u) => [u.id, u.display_name]));
  const person = (id) => (!id ? null : id === ctx.me.id ? t('service.me') : userNames.get(id) || '—');
  const accountLink = (id) => h('a', { href: `#/accounts/${id}` }, accountNames.get(id) || id.slice(0, 8));
  const afterTicket = new Map();
  for (const callback of callbacks) {
    if (callback.kind !== 'after_ticket' || !callback.ticket_id) continue;
    afterTicket.set(callback.ticket_id, [...(afterTicket.get(callback.ticket_id) || []), callback]);
  }

  const problemArea = h('div', { 'data-testid': 'ticket-problem', 'aria-live': 'polite' });
  function showProblem(error, subject) {
    problemArea.replaceChildren(
      h('p', { class: 'hint' }, t('service.problem_for', { subject })),
      problemView(error),
      error instanceof api.Problem && error.code === 'callback_required'
        ? h('p', { class: 'hint', 'data-testid': 'ticket-problem-hint' }, t('service.hint.callback_required'))
        : null,
    );
    problemArea.scrollIntoView({ block: 'nearest' });
  }
  /** Runs a write; on success a notice and the page again, else the API's problem. */
  async function attempt(source, subject, write, done) {
    problemArea.replaceChildren();
    source.disabled = true;
    try {
      await write();
      notice(done);
      ctx.refresh();
    } catch (error) {
      showProblem(error, subject);
      source.disabled = false;
    }
  }

  async function advance(ticket, to, source) {
    const body = { status: to };
    if (to === 'assigned' && !ticket.assignee_id) body.assignee_id = ctx.me.id;
    if (to === 'resolved') {
      const heading = t('service.resolve_title', { title: ticket.title });
      body.resolution = await askResolution(ticket, heading, t('service.advance.resolved'));
      if (body.resolution === null) return;
    }
    const done = t('service.moved', { title: ticket.title, status: t(`service.status.${to}`) });
    attempt(source, ticket.title, () => api.patch(`/tickets/${ticket.id}`, body), done);
  }

  async function close(ticket, source) {
    const body = { status: 'closed' };
    const heading = t('service.close_title', { title: ticket.title });
    if (ticket.resolution) {
      if (!(await confirmDialog(heading, t('service.close_confirm'), t('service.close')))) return;
    } else {
      body.resolution = await askResolution(ticket, heading, t('service.close'));
      if (body.resolution === null) return;
    }
    attempt(source, ticket.title, () => api.patch(`/tickets/${ticket.id}`, body), t('service.closed', { title: ticket.title }));
  }

  /** Completes the ticket's planned callback, or logs a new one as done. */
  async function recordCallback(ticket, source) {
    const heading = t('service.callback_title', { title: ticket.title });
    const values = await formDialog(heading, satisfactionControls(), t('service.record_callback'));
    if (!values) return;
    const planned = (afterTicket.get(ticket.id) || []).find((c) => c.status === 'planned');
    const outcome = { status: 'done', satisfaction: Number(values.satisfaction), comments: values.comments };
    attempt(
      source,
      ticket.title,
      () =>
        planned
          ? api.patch(`/callbacks/${planned.id}`, outcome)
          : api.call('POST', '/callbacks', {
              body: {
                account_id: ticket.account_id,
                kind: 'after_ticket',
                ticket_id: ticket.id,
                scheduled_on: today(),
                ...outcome,
              },
            }),
      t('service.callback_recorded'),
    );
  }

  async function completeCallback(callback, source) {
    const account = accountNames.get(callback.account_id) || callback.id;
    const values = await formDialog(t('service.complete_title', { account }), satisfactionControls(), t('service.complete'));
    if (!values) return;
    const outcome = { status: 'done', satisfaction: Number(values.satisfaction), comments: values.comments };
    attempt(
      source,
      account,
      () => api.patch(`/callbacks/${callback.id}`, outcome),
      t('service.callback_recorded'),
    );
  }

  function ticketRow(ticket) {
    const state = slaState(ticket);
    const step = nextStep(ticket);
    const actions = [];
    if (step) {
      const [to, label] = step;
      actions.push(button('ticket-advance', t(label), (source) => advance(ticket, to, source), { 'data-to': to }));
    }
    if (ticket.status !== 'closed') {
      actions.push(
        button('ticket-close', t('service.close'), (source) => close(ticket, source)),
        button('ticket-callback', t('service.record_callback'), (source) => recordCallback(ticket, source)),
      );
    }
    return h(
      'tr',
      {
        'data-testid': 'ticket-row',
        'data-id': ticket.id,
        'data-kind': ticket.type,
        'data-status': ticket.status,
        'data-sla': state,
      },
      h('th', { scope: 'row' }, ticket.title, ticket.resolution ? h('small', { class: 'service-resolution' }, ticket.resolution) : null),
      h('td', null, accountLink(ticket.account_id)),
      h(
        'td',
        { class: 'nowrap' },
        ticket.type === 'complaint' ? badge(t('service.type.complaint'), 'warn') : t(`service.type.${ticket.type}`),
      ),
      h('td', null, badge(t(`service.severity.${ticket.severity}`), SEVERITY_TONE[ticket.severity])),
      h('td', { class: 'nowrap' }, t(`service.status.${ticket.status}`)),
      h('td', null, slaBadge(ticket, state)),
      h('td', null, callbackBadge(ticketCallback(afterTicket.get(ticket.id) || []))),
      h('td', { class: 'nowrap' }, person(ticket.assignee_id) || t('service.unassigned')),
      h('td', null, h('div', { class: 'service-actions' }, actions)),
    );
  }

  function callbackRow(callback) {
    const days = Math.round((Date.parse(`${callback.scheduled_on}T00:00:00Z`) - Date.parse(`${today()}T00:00:00Z`)) / DAY);
    const [due, tone] =
      days < 0 ? ['overdue', 'bad'] : days === 0 ? ['today', 'warn'] : days <= SOON_DAYS ? ['soon', 'warn'] : ['later', 'muted'];
    const done = button('callback-complete', t('service.complete'), (source) => completeCallback(callback, source));
    const missed = button('callback-missed', t('service.missed'), (source) =>
      attempt(
        source,
        accountNames.get(callback.account_id) || callback.id,
        () => api.patch(`/callbacks/${callback.id}`, { status: 'missed' }),
        t('service.callback_missed'),
      ),
    );
    const ticket = callback.ticket_id ? tickets.find((x) => x.id === callback.ticket_id) : null;
    return h(
      'tr',
      { 'data-testid': 'callback-row', 'data-id': callback.id, 'data-due': due },
      h('td', null, format.date(callback.scheduled_on), ' ', badge(t(`service.due.${due}`), tone)),
      h(
        'td',
        null,
        t(`service.callback_kind.${callback.kind}`),
        ticket ? h('small', { class: 'service-resolution' }, ticket.title) : null,
      ),
      h('td', null, accountLink(callback.account_id)),
      h('td', null, person(callback.owner_id)),
      h('td', null, h('div', { class: 'service-actions' }, done, missed)),
    );
  }

  const headRow = (keys) =>
    h('thead', null, h('tr', null, keys.map((key) => h('th', { scope: 'col' }, t(`service.col.${key}`)))));
  const emptyRow = (span) => h('tr', null, h('td', { colspan: span, class: 'empty' }, t('common.none')));

  const queue = tickets.filter((x) => !x.deleted).sort(queueOrder);
  const ticketColumns = ['ticket', 'account', 'type', 'severity', 'status', 'sla', 'callback', 'assignee', 'actions'];
  const horizon = new Date(Date.now() + CALLBACK_WINDOW_DAYS * DAY).toISOString().slice(0, 10);
  const due = callbacks
    .filter((c) => !c.deleted && c.status === 'planned' && c.scheduled_on <= horizon)
    .sort((a, b) => a.scheduled_on.localeCompare(b.scheduled_on));
  const callbackColumns = ['scheduled', 'kind', 'account', 'owner', 'actions'];

  const periodSelect = select('period', PERIODS.map((p) => [p, t(`service.period.${p}`)]), period);
  periodSelect.dataset.testid = 'service-period';
  periodSelect.addEventListener('change', () => ctx.navigate('/service', { period: periodSelect.value }));

  return h(
    'section',
    { class: 'page service-page stack' },
    h('h1', null, t('service.title')),
    card(
      t('service.queue'),
      h('p', { class: 'hint' }, t('service.queue_hint')),
      problemArea,
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { class: 'grid', 'data-testid': 'tickets-table' },
          h('caption', { class: 'visually-hidden' }, t('service.queue')),
          headRow(ticketColumns),
          h('tbody', null, queue.length ? queue.map(ticketRow) : emptyRow(ticketColumns.length)),
        ),
      ),
    ),
    h(
      'div',
      { class: 'cards' },
      card(
        t('service.callbacks'),
        h('p', { class: 'hint' }, t('service.callbacks_hint', { days: CALLBACK_WINDOW_DAYS })),
        h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { class: 'grid', 'data-testid': 'callbacks-table' },
            h('caption', { class: 'visually-hidden' }, t('service.callbacks')),
            headRow(callbackColumns),
            h('tbody', null, due.length ? due.map(callbackRow) : emptyRow(callbackColumns.length)),
          ),
        ),
      ),
      satisfactionCard(summary, report, periodSelect),
    ),
  );
}
