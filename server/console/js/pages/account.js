// The customer file (#/accounts/<id>): one account from GET /accounts/{id}
// with its details, scores, health and warnings, an edit form (PATCH as a
// merge patch with If-Match), the manager's reassign, the tier and at-risk
// proposals to decide, and tabs for its key persons (the org chart), visits,
// opportunities, account plans, contracts, tickets and callbacks, and its
// timeline. An account outside the caller's scope is the API's 404 page.
// The open tab is kept in the hash query (`?tab=visits`).
//
// data-testids:
//   account-name                 the account's name (h1)
//   account-edit                 opens/closes the edit form (aria-expanded)
//   account-form                 the edit form; its controls are named after the fields
//                                (name, segment, stage, lost_reason, risk_reasons, industry,
//                                phone, website, tags, proposed_tier, scores.*, address.*,
//                                notes; tier for managers and above; none for service)
//   account-save                 submits the edit form
//   account-problem              where the edit form shows the API's problem
//   reassign-owner               the select of reps (managers, directors and admins only)
//   reassign                     reassigns to the selected rep (after a confirm dialog)
//   reassign-problem             where a refused reassign shows the API's problem
//   tier-proposal                the pending tier proposal, with tier-confirm,
//                                tier-reject-reason and tier-reject (managers and above)
//   at-risk-proposal             the pending at-risk proposal, with at-risk-confirm and
//                                at-risk-dismiss (managers and above)
//   proposal-problem             where a refused decision shows the API's problem
//   warnings                     the warnings (ul, li with data-code; a p when none hold)
//   tab-overview, tab-people, tab-visits, tab-opportunities, tab-plans,
//   tab-contracts, tab-service, tab-timeline
//                                the tabs (role=tab; panels are panel-<name>)
//   org-chart                    the org chart: gaps (li.gap with data-code) and the tree
//                                (ul.org-tree, .org-node with data-id)
//   contacts-table, visits-table, opportunities-table, plans, contracts-table,
//   tickets-table, callbacks-table
//                                the related lists
//   timeline                     the timeline (ol, newest first; li with data-kind)
//   <list>-more                  "Load more" under a paged list (contacts-more,
//                                visits-more, ..., timeline-more)

import * as api from '../api.js';
import * as format from '../format.js';
import { has, register, t } from '../i18n.js';
import { badge, card, confirmDialog, field, h, loadMore, notice, problemView, select, table } from '../ui.js';
import {
  SEGMENTS,
  STAGES,
  TIERS,
  healthView,
  label,
  loadPeople,
  personName,
  severityTone,
  stageBadge,
  teamName,
  tierBadge,
} from './accounts.js';

const MANAGERS = ['manager', 'director', 'admin'];
const TABS = ['overview', 'people', 'visits', 'opportunities', 'plans', 'contracts', 'service', 'timeline'];
const SCORES = ['need', 'purchasing_power', 'loyalty', 'size', 'strategic_value'];
const ADDRESS = ['street', 'city', 'region', 'postal_code', 'country'];
const PAGE_SIZE = 50;

const TONES = {
  attitude: { champion: 'ok', supporter: 'ok', neutral: 'muted', opponent: 'bad' },
  gap: {
    no_key_persons: 'bad',
    no_decision_maker: 'warn',
    no_champion: 'warn',
    opponent_with_high_influence: 'bad',
    decision_maker_not_supportive: 'warn',
    unknown_manager: 'muted',
    reporting_cycle: 'warn',
    too_deep: 'muted',
  },
  visit: { planned: 'muted', in_progress: 'warn', completed: 'ok', cancelled: 'muted' },
  deal: { won: 'ok', lost: 'bad' },
  plan: { draft: 'muted', active: 'ok', closed: 'muted' },
  action: { todo: 'muted', in_progress: 'warn', done: 'ok', blocked: 'bad' },
  resource: { requested: 'warn', approved: 'ok', rejected: 'bad' },
  contract: { draft: 'muted', active: 'ok', completed: 'muted', terminated: 'bad' },
  severity: { critical: 'bad', high: 'bad', medium: 'warn', low: 'muted' },
  ticket: { open: 'warn', assigned: 'warn', in_progress: 'warn', resolved: 'ok', closed: 'muted' },
  callback: { planned: 'muted', done: 'ok', missed: 'bad' },
};

register({
  'zh-CN': {
    'account.title': '客户档案',
    'account.back': '返回客户列表',
    'account.tabs': '客户档案分区',
    'account.tab.overview': '概况',
    'account.tab.people': '关键人',
    'account.tab.visits': '拜访',
    'account.tab.opportunities': '商机',
    'account.tab.plans': '客户计划',
    'account.tab.contracts': '合同',
    'account.tab.service': '服务',
    'account.tab.timeline': '动态',
    'account.details': '基本信息',
    'account.scoring': '评分与级别',
    'account.healthCard': '健康度与预警',
    'account.ownership': '归属',
    'account.edit': '编辑',
    'account.editTitle': '编辑客户',
    'account.closeEdit': '关闭编辑',
    'account.nothingChanged': '没有修改任何内容。',
    'account.reload': '重新加载',
    'account.field.name': '客户名称',
    'account.field.segment': '细分市场',
    'account.field.stage': '阶段',
    'account.field.lost_reason': '流失原因',
    'account.field.risk_reasons': '风险原因',
    'account.field.tier': '级别（确认）',
    'account.field.proposed_tier': '提议级别',
    'account.field.industry': '行业',
    'account.field.phone': '总机电话',
    'account.field.website': '网站',
    'account.field.address': '地址',
    'account.field.address.street': '街道门牌',
    'account.field.address.city': '城市',
    'account.field.address.region': '省份',
    'account.field.address.postal_code': '邮政编码',
    'account.field.address.country': '国家',
    'account.field.tags': '标签',
    'account.field.notes': '备注',
    'account.field.owner': '客户经理',
    'account.field.team': '团队',
    'account.field.shared_with': '共享给',
    'account.field.created': '创建时间',
    'account.field.updated': '最后修改',
    'account.field.score': '综合得分',
    'account.field.suggested_tier': '建议级别',
    'account.field.health': '健康度',
    'account.field.last_visit': '上次有效拜访',
    'account.field.next_due': '下次应访',
    'account.field.won_back': '挽回次数',
    'account.score.need': '需求',
    'account.score.purchasing_power': '购买力',
    'account.score.loyalty': '忠诚度',
    'account.score.size': '规模',
    'account.score.strategic_value': '战略价值',
    'account.hint.commas': '以逗号分隔',
    'account.hint.lost_reason': '阶段改为"已流失"时必填',
    'account.hint.risk_reasons': '阶段改为"流失预警"时必填，以逗号分隔',
    'account.hint.score': '0-100,留空表示未评分',
    'account.noTier': '无',
    'account.warningsTitle': '预警',
    'account.noWarnings': '当前没有预警。',
    'account.warningSince': '自 {date}',
    'account.conflicts': '并发修改的值',
    'account.conflictOthers': '{field}:显示 {value},另有 {others}',
    'account.tierRejection': '上次提议的级别"{tier}"已于 {date} 被 {by} 驳回：{reason}',
    'account.reassign': '重新分配',
    'account.reassignTo': '分配给客户经理',
    'account.reassignTitle': '重新分配客户',
    'account.reassignMessage': '将"{account}"从 {from} 转给 {to}?',
    'account.reassigned': '已重新分配给 {name}',
    'account.sameOwner': '请选择另一位客户经理。',
    'account.tierProposal': '级别提议',
    'account.tierProposalText': '提议级别：{tier}(评分建议：{suggested})。',
    'account.tierWaiting': '等待经理确认。',
    'account.tierConfirm': '确认级别',
    'account.tierConfirmMessage': '将"{account}"的级别确认为"{tier}"?',
    'account.tierConfirmed': '级别已确认',
    'account.tierReject': '驳回',
    'account.tierRejectReason': '驳回原因',
    'account.tierRejected': '级别提议已驳回',
    'account.atRiskProposal': '流失预警提议',
    'account.atRiskText': '系统于 {date} 提议将此客户转入"流失预警"阶段，依据当前预警：{warnings}。',
    'account.atRiskWaiting': '等待经理决定。',
    'account.atRiskConfirm': '确认转入流失预警',
    'account.atRiskConfirmMessage': '将"{account}"转入流失预警阶段？当前预警将记为风险原因。',
    'account.atRiskConfirmed': '已转入流失预警',
    'account.atRiskDismiss': '忽略提议',
    'account.atRiskDismissMessage': '忽略此提议？在预警不变的情况下不会再次提议。',
    'account.atRiskDismissed': '已忽略提议',
    'account.orgChart': '组织架构图',
    'account.gaps': '决策链缺口',
    'account.noGaps': '决策链没有发现缺口。',
    'account.noPersons': '尚未录入关键人。',
    'account.influence': '影响力 {value}/5',
    'account.relationship': '关系 {value}/5',
    'account.contacts': '关键人联系方式',
    'account.col.name': '姓名',
    'account.col.title': '职务',
    'account.col.department': '部门',
    'account.col.role': '角色',
    'account.col.attitude': '态度',
    'account.col.phone': '电话',
    'account.col.email': '邮箱',
    'account.col.wechat': '微信',
    'account.col.planned': '计划时间',
    'account.col.type': '类型',
    'account.col.purpose': '目的',
    'account.col.status': '状态',
    'account.col.owner': '负责人',
    'account.col.checkIn': '签到',
    'account.col.effective': '有效拜访',
    'account.col.outcome': '结果',
    'account.col.deal': '商机',
    'account.col.stage': '阶段',
    'account.col.amount': '金额',
    'account.col.probability': '赢率',
    'account.col.close': '预计成交',
    'account.col.number': '合同编号',
    'account.col.signed': '签订日期',
    'account.col.term': '合同期',
    'account.col.payment': '付款条件',
    'account.col.subject': '主题',
    'account.col.severity': '紧急程度',
    'account.col.opened': '创建时间',
    'account.col.sla': 'SLA 截止',
    'account.col.scheduled': '计划日期',
    'account.col.kind': '类型',
    'account.col.satisfaction': '满意度',
    'account.col.comments': '客户反馈',
    'account.col.action': '行动',
    'account.col.due': '截止',
    'account.col.resource': '资源',
    'account.col.description': '说明',
    'account.distance': '距离 {value} 米',
    'account.tooFar': '距离过远',
    'account.effective': '有效',
    'account.notEffective': '无效',
    'account.overdue': '逾期',
    'account.slaBreached': '超出 SLA',
    'account.lowSatisfaction': '满意度低',
    'account.stageHistory': '阶段历史（{count}）',
    'account.stageEntry': '{stage} · {date} · {by}',
    'account.visitsTitle': '拜访记录',
    'account.dealsTitle': '商机',
    'account.plansTitle': '客户计划',
    'account.contractsTitle': '合同',
    'account.ticketsTitle': '工单',
    'account.callbacksTitle': '回访',
    'account.timelineTitle': '动态（最新在前）',
    'account.period': '{kind}计划 · 自 {start}',
    'account.progress': '完成 {value}',
    'account.overdueActions': '{count} 项行动逾期',
    'account.goals': '目标',
    'account.strategies': '策略',
    'account.actions': '行动',
    'account.resources': '资源支持',
    'account.achieved': '已达成',
    'account.server': '系统',
    'account.entry': '{what}{kind}',
    'account.entryName': '"{name}"',
    'account.change': '{field}:{old} → {new}',
    'account.empty': '(空)',
    'account.term': '{start} 至 {end}',
    'account.rating': '{value}/5',
    'account.attitude.champion': '拥护者',
    'account.attitude.supporter': '支持者',
    'account.attitude.neutral': '中立',
    'account.attitude.opponent': '反对者',
    'account.role.decision_maker': '决策者',
    'account.role.influencer': '影响者',
    'account.role.user': '使用者',
    'account.role.gatekeeper': '把关者',
    'account.role.coach': '内部教练',
    'account.personality.tiger': '老虎型',
    'account.personality.peacock': '孔雀型',
    'account.personality.koala': '考拉型',
    'account.personality.owl': '猫头鹰型',
    'account.gap.no_key_persons': '未录入关键人',
    'account.gap.no_decision_maker': '未掌握决策人',
    'account.gap.no_champion': '无内部支持者',
    'account.gap.opponent_with_high_influence': '高影响力的反对者',
    'account.gap.decision_maker_not_supportive': '决策人尚未支持',
    'account.gap.unknown_manager': '上级不明',
    'account.gap.reporting_cycle': '汇报关系成环',
    'account.gap.too_deep': '层级过深',
    'account.visitStatus.planned': '计划中',
    'account.visitStatus.in_progress': '进行中',
    'account.visitStatus.completed': '已完成',
    'account.visitStatus.cancelled': '已取消',
    'account.visitType.onsite': '现场拜访',
    'account.visitType.phone': '电话',
    'account.visitType.online': '线上',
    'account.visitType.event': '活动',
    'account.outcome.positive': '积极',
    'account.outcome.neutral': '一般',
    'account.outcome.negative': '消极',
    'account.dealStage.research': '市场调研',
    'account.dealStage.planning': '方案制定',
    'account.dealStage.negotiation': '洽谈',
    'account.dealStage.contract': '签约',
    'account.dealStage.won': '赢单',
    'account.dealStage.lost': '丢单',
    'account.planStatus.draft': '草稿',
    'account.planStatus.active': '执行中',
    'account.planStatus.closed': '已关闭',
    'account.periodKind.year': '年度',
    'account.periodKind.quarter': '季度',
    'account.periodKind.month': '月度',
    'account.actionStatus.todo': '待办',
    'account.actionStatus.in_progress': '进行中',
    'account.actionStatus.done': '已完成',
    'account.actionStatus.blocked': '受阻',
    'account.resourceKind.people': '人员',
    'account.resourceKind.budget': '预算',
    'account.resourceKind.technical': '技术支持',
    'account.resourceKind.executive_sponsor': '高层支持',
    'account.resourceKind.other': '其他',
    'account.resourceStatus.requested': '已申请',
    'account.resourceStatus.approved': '已批准',
    'account.resourceStatus.rejected': '已驳回',
    'account.contractStatus.draft': '草稿',
    'account.contractStatus.active': '生效中',
    'account.contractStatus.completed': '已履行',
    'account.contractStatus.terminated': '已终止',
    'account.ticketType.complaint': '投诉',
    'account.ticketType.service_request': '服务请求',
    'account.ticketType.question': '咨询',
    'account.severity.critical': '紧急',
    'account.severity.high': '高',
    'account.severity.medium': '中',
    'account.severity.low': '低',
    'account.ticketStatus.open': '待处理',
    'account.ticketStatus.assigned': '已分派',
    'account.ticketStatus.in_progress': '处理中',
    'account.ticketStatus.resolved': '已解决',
    'account.ticketStatus.closed': '已关闭',
    'account.callbackKind.routine': '例行回访',
    'account.callbackKind.after_sale': '售后回访',
    'account.callbackKind.after_ticket': '工单回访',
    'account.callbackStatus.planned': '计划中',
    'account.callbackStatus.done': '已完成',
    'account.callbackStatus.missed': '未完成',
    'account.what.created': '创建了',
    'account.what.changed': '修改了',
    'account.kind.account': '客户',
    'account.kind.contact': '关键人',
    'account.kind.visit': '拜访',
    'account.kind.opportunity': '商机',
    'account.kind.account_plan': '客户计划',
    'account.kind.contract': '合同',
    'account.kind.ticket': '工单',
    'account.kind.callback': '回访',
  },
  en: {
    'account.title': 'Customer file',
    'account.back': 'Back to the accounts',
    'account.tabs': 'Customer file sections',
    'account.tab.overview': 'Overview',
    'account.tab.people': 'Key persons',
    'account.tab.visits': 'Visits',
    'account.tab.opportunities': 'Opportunities',
    'account.tab.plans': 'Account plans',
    'account.tab.contracts': 'Contracts',
    'account.tab.service': 'Service',
    'account.tab.timeline': 'Timeline',
    'account.details': 'Details',
    'account.scoring': 'Scores and tier',
    'account.healthCard': 'Health and warnings',
    'account.ownership': 'Ownership',
    'account.edit': 'Edit',
    'account.editTitle': 'Edit the account',
    'account.closeEdit': 'Close the editor',
    'account.nothingChanged': 'Nothing was changed.',
    'account.reload': 'Reload',
    'account.field.name': 'Name',
    'account.field.segment': 'Segment',
    'account.field.stage': 'Stage',
    'account.field.lost_reason': 'Why it was lost',
    'account.field.risk_reasons': 'Risk reasons',
    'account.field.tier': 'Tier (confirmed)',
    'account.field.proposed_tier': 'Proposed tier',
    'account.field.industry': 'Industry',
    'account.field.phone': 'Switchboard',
    'account.field.website': 'Web site',
    'account.field.address': 'Address',
    'account.field.address.street': 'Street',
    'account.field.address.city': 'City',
    'account.field.address.region': 'Province or state',
    'account.field.address.postal_code': 'Postal code',
    'account.field.address.country': 'Country',
    'account.field.tags': 'Tags',
    'account.field.notes': 'Notes',
    'account.field.owner': 'Owner',
    'account.field.team': 'Team',
    'account.field.shared_with': 'Shared with',
    'account.field.created': 'Created',
    'account.field.updated': 'Last changed',
    'account.field.score': 'Score',
    'account.field.suggested_tier': 'Suggested tier',
    'account.field.health': 'Health',
    'account.field.last_visit': 'Last effective visit',
    'account.field.next_due': 'Next visit due',
    'account.field.won_back': 'Times won back',
    'account.score.need': 'Need',
    'account.score.purchasing_power': 'Purchasing power',
    'account.score.loyalty': 'Loyalty',
    'account.score.size': 'Size',
    'account.score.strategic_value': 'Strategic value',
    'account.hint.commas': 'Separated by commas',
    'account.hint.lost_reason': 'Required to move the account to Lost',
    'account.hint.risk_reasons': 'Required to move the account to At risk; separated by commas',
    'account.hint.score': '0-100; empty when not scored',
    'account.noTier': 'None',
    'account.warningsTitle': 'Warnings',
    'account.noWarnings': 'No warnings hold.',
    'account.warningSince': 'since {date}',
    'account.conflicts': 'Concurrent values',
    'account.conflictOthers': '{field}: shows {value}, also {others}',
    'account.tierRejection': 'The proposed tier "{tier}" was turned down on {date} by {by}: {reason}',
    'account.reassign': 'Reassign',
    'account.reassignTo': 'Reassign to rep',
    'account.reassignTitle': 'Reassign the account',
    'account.reassignMessage': 'Move "{account}" from {from} to {to}?',
    'account.reassigned': 'Reassigned to {name}',
    'account.sameOwner': 'Choose another rep.',
    'account.tierProposal': 'Tier proposal',
    'account.tierProposalText': 'Proposed tier: {tier} (the score suggests: {suggested}).',
    'account.tierWaiting': 'Waiting for a manager to confirm.',
    'account.tierConfirm': 'Confirm the tier',
    'account.tierConfirmMessage': 'Confirm "{tier}" as the tier of "{account}"?',
    'account.tierConfirmed': 'Tier confirmed',
    'account.tierReject': 'Turn down',
    'account.tierRejectReason': 'Why it is turned down',
    'account.tierRejected': 'Tier proposal turned down',
    'account.atRiskProposal': 'At-risk proposal',
    'account.atRiskText':
      'On {date} the server proposed moving this account to At risk, from its warnings: {warnings}.',
    'account.atRiskWaiting': 'Waiting for a manager to decide.',
    'account.atRiskConfirm': 'Move to At risk',
    'account.atRiskConfirmMessage': 'Move "{account}" to At risk? Its warnings become its risk reasons.',
    'account.atRiskConfirmed': 'Moved to At risk',
    'account.atRiskDismiss': 'Dismiss',
    'account.atRiskDismissMessage': 'Dismiss the proposal? It is not proposed again for the same warnings.',
    'account.atRiskDismissed': 'Proposal dismissed',
    'account.orgChart': 'Org chart',
    'account.gaps': 'Gaps in the decision map',
    'account.noGaps': 'No gaps in the decision map.',
    'account.noPersons': 'No key persons yet.',
    'account.influence': 'Influence {value}/5',
    'account.relationship': 'Relationship {value}/5',
    'account.contacts': 'Key persons and how to reach them',
    'account.col.name': 'Name',
    'account.col.title': 'Title',
    'account.col.department': 'Department',
    'account.col.role': 'Buying role',
    'account.col.attitude': 'Attitude',
    'account.col.phone': 'Phone',
    'account.col.email': 'Email',
    'account.col.wechat': 'WeChat',
    'account.col.planned': 'Planned',
    'account.col.type': 'Type',
    'account.col.purpose': 'Purpose',
    'account.col.status': 'Status',
    'account.col.owner': 'Owner',
    'account.col.checkIn': 'Check-in',
    'account.col.effective': 'Effective',
    'account.col.outcome': 'Outcome',
    'account.col.deal': 'Opportunity',
    'account.col.stage': 'Stage',
    'account.col.amount': 'Amount',
    'account.col.probability': 'Probability',
    'account.col.close': 'Expected close',
    'account.col.number': 'Number',
    'account.col.signed': 'Signed',
    'account.col.term': 'Term',
    'account.col.payment': 'Payment terms',
    'account.col.subject': 'Subject',
    'account.col.severity': 'Severity',
    'account.col.opened': 'Opened',
    'account.col.sla': 'SLA due',
    'account.col.scheduled': 'Scheduled',
    'account.col.kind': 'Kind',
    'account.col.satisfaction': 'Satisfaction',
    'account.col.comments': 'Comments',
    'account.col.action': 'Action',
    'account.col.due': 'Due',
    'account.col.resource': 'Resource',
    'account.col.description': 'Description',
    'account.distance': '{value} m away',
    'account.tooFar': 'Too far',
    'account.effective': 'Effective',
    'account.notEffective': 'Not effective',
    'account.overdue': 'Overdue',
    'account.slaBreached': 'SLA breached',
    'account.lowSatisfaction': 'Low',
    'account.stageHistory': 'Stage history ({count})',
    'account.stageEntry': '{stage} · {date} · {by}',
    'account.visitsTitle': 'Visits',
    'account.dealsTitle': 'Opportunities',
    'account.plansTitle': 'Account plans',
    'account.contractsTitle': 'Contracts',
    'account.ticketsTitle': 'Tickets',
    'account.callbacksTitle': 'Callbacks',
    'account.timelineTitle': 'Timeline (newest first)',
    'account.period': '{kind} plan · from {start}',
    'account.progress': '{value} done',
    'account.overdueActions': '{count} actions overdue',
    'account.goals': 'Goals',
    'account.strategies': 'Strategies',
    'account.actions': 'Actions',
    'account.resources': 'Resources asked for',
    'account.achieved': 'Achieved',
    'account.server': 'Server',
    'account.entry': '{what} {kind}',
    'account.entryName': '"{name}"',
    'account.change': '{field}: {old} → {new}',
    'account.empty': '(empty)',
    'account.term': '{start} to {end}',
    'account.rating': '{value}/5',
    'account.attitude.champion': 'Champion',
    'account.attitude.supporter': 'Supporter',
    'account.attitude.neutral': 'Neutral',
    'account.attitude.opponent': 'Opponent',
    'account.role.decision_maker': 'Decision maker',
    'account.role.influencer': 'Influencer',
    'account.role.user': 'User',
    'account.role.gatekeeper': 'Gatekeeper',
    'account.role.coach': 'Coach',
    'account.personality.tiger': 'Tiger',
    'account.personality.peacock': 'Peacock',
    'account.personality.koala': 'Koala',
    'account.personality.owl': 'Owl',
    'account.gap.no_key_persons': 'No key persons',
    'account.gap.no_decision_maker': 'No decision maker known',
    'account.gap.no_champion': 'No champion',
    'account.gap.opponent_with_high_influence': 'Influential opponent',
    'account.gap.decision_maker_not_supportive': 'Decision maker not supportive',
    'account.gap.unknown_manager': 'Manager unknown',
    'account.gap.reporting_cycle': 'Reporting loop',
    'account.gap.too_deep': 'Too deep',
    'account.visitStatus.planned': 'Planned',
    'account.visitStatus.in_progress': 'In progress',
    'account.visitStatus.completed': 'Completed',
    'account.visitStatus.cancelled': 'Cancelled',
    'account.visitType.onsite': 'On site',
    'account.visitType.phone': 'Phone',
    'account.visitType.online': 'Online',
    'account.visitType.event': 'Event',
    'account.outcome.positive': 'Positive',
    'account.outcome.neutral': 'Neutral',
    'account.outcome.negative': 'Negative',
    'account.dealStage.research': 'Research',
    'account.dealStage.planning': 'Planning',
    'account.dealStage.negotiation': 'Negotiation',
    'account.dealStage.contract': 'Contract',
    'account.dealStage.won': 'Won',
    'account.dealStage.lost': 'Lost',
    'account.planStatus.draft': 'Draft',
    'account.planStatus.active': 'Active',
    'account.planStatus.closed': 'Closed',
    'account.periodKind.year': 'Yearly',
    'account.periodKind.quarter': 'Quarterly',
    'account.periodKind.month': 'Monthly',
    'account.actionStatus.todo': 'To do',
    'account.actionStatus.in_progress': 'In progress',
    'account.actionStatus.done': 'Done',
    'account.actionStatus.blocked': 'Blocked',
    'account.resourceKind.people': 'People',
    'account.resourceKind.budget': 'Budget',
    'account.resourceKind.technical': 'Technical',
    'account.resourceKind.executive_sponsor': 'Executive sponsor',
    'account.resourceKind.other': 'Other',
    'account.resourceStatus.requested': 'Requested',
    'account.resourceStatus.approved': 'Approved',
    'account.resourceStatus.rejected': 'Rejected',
    'account.contractStatus.draft': 'Draft',
    'account.contractStatus.active': 'Active',
    'account.contractStatus.completed': 'Completed',
    'account.contractStatus.terminated': 'Terminated',
    'account.ticketType.complaint': 'Complaint',
    'account.ticketType.service_request': 'Service request',
    'account.ticketType.question': 'Question',
    'account.severity.critical': 'Critical',
    'account.severity.high': 'High',
    'account.severity.medium': 'Medium',
    'account.severity.low': 'Low',
    'account.ticketStatus.open': 'Open',
    'account.ticketStatus.assigned': 'Assigned',
    'account.ticketStatus.in_progress': 'In progress',
    'account.ticketStatus.resolved': 'Resolved',
    'account.ticketStatus.closed': 'Closed',
    'account.callbackKind.routine': 'Routine',
    'account.callbackKind.after_sale': 'After a sale',
    'account.callbackKind.after_ticket': 'After a ticket',
    'account.callbackStatus.planned': 'Planned',
    'account.callbackStatus.done': 'Done',
    'account.callbackStatus.missed': 'Missed',
    'account.what.created': 'Created',
    'account.what.changed': 'Changed',
    'account.kind.account': 'account',
    'account.kind.contact': 'key person',
    'account.kind.visit': 'visit',
    'account.kind.opportunity': 'opportunity',
    'account.kind.account_plan': 'account plan',
    'account.kind.contract': 'contract',
    'account.kind.ticket': 'ticket',
    'account.kind.callback': 'callback',
  },
});

export const title = 'account.title';

/** The label of a value of one of this page's enums, or "—". */
function word(kind, value) {
  return value ? t(`account.${kind}.${value}`) : '—';
}

/** A badge for an enum value, toned by `TONES[tones]`. */
function status(kind, value, tones) {
  return value ? badge(word(kind, value), TONES[tones][value] || 'muted') : '—';
}

/** A definition list of [term, value] pairs (null pairs skipped, empty values as "—"). */
function details(pairs) {
  return h(
    'dl',
    { class: 'details' },
    pairs.filter(Boolean).map(([term, value]) => [h('dt', null, term), h('dd', null, value ?? '—')]),
  );
}

/** Calls `load` and shows what it builds, or the API's problem, in place. */
function deferred(load) {
  const box = h('div', { class: 'deferred' }, h('p', { class: 'loading' }, t('common.loading')));
  load().then(
    (node) => box.replaceChildren(node),
    (error) => box.replaceChildren(problemView(error)),
  );
  return box;
}

/** Shows the API's problem in `slot`, with a reload button when the record moved on (412, 409). */
function showProblem(slot, error, ctx) {
  slot.replaceChildren(problemView(error));
  if (error instanceof api.Problem && (error.status === 412 || error.status === 409)) {
    slot.append(h('button', { type: 'button', class: 'secondary', onclick: () => ctx.refresh() }, t('account.reload')));
  }
}

/**
 * A cursor-paged list: `load(cursor)` answers a page; each item becomes
 * `renderItem(item)` in `container` (shown inside `frame`), with a "Load
 * more" button (`<testid>-more`) while pages remain; `empty()` stands in for
 * an empty first page.
 */
function paged({ load, frame, container, renderItem, empty, testid }) {
  return deferred(async () => {
    const first = await load();
    if (!first.items.length) container.append(empty());
    container.append(...first.items.map(renderItem));
    const more = loadMore(first.next_cursor, load, (items) => container.append(...items.map(renderItem)), `${testid}-more`);
    return h('div', null, frame, more);
  });
}

/** A paged table of a list filtered by the account: `columns` of [header, cell(item), numeric?]. */
function pagedTable({ path, accountId, columns, testid, caption }) {
  const tbody = h('tbody');
  const frame = h(
    'div',
    { class: 'table-wrap' },
    h(
      'table',
      { class: 'grid', 'data-testid': testid },
      h('caption', null, caption),
      h(
        'thead',
        null,
        h(
          'tr',
          null,
          columns.map(([header, , numeric]) => h('th', { scope: 'col', class: numeric ? 'num' : null }, header)),
        ),
      ),
      tbody,
    ),
  );
  return paged({
    load: (cursor) => api.get(path, { account_id: accountId, limit: PAGE_SIZE, cursor }),
    frame,
    container: tbody,
    renderItem: (item) =>
      h(
        'tr',
        { 'data-id': item.id },
        columns.map(([, cell, numeric]) => h('td', { class: numeric ? 'num' : null }, cell(item))),
      ),
    empty: () => h('tr', null, h('td', { colspan: columns.length, class: 'empty' }, t('common.none'))),
    testid: testid.replace(/-table$/, ''),
  });
}

function truncate(text, length = 120) {
  return text.length > length ? `${text.slice(0, length - 1)}…` : text;
}

function addressText(address) {
  const parts = ADDRESS.map((part) => address && address[part]).filter(Boolean);
  return parts.length ? parts.join(', ') : null;
}

function riskReason(reason) {
  return has(`accounts.warning.${reason}`) ? label('warning', reason) : reason;
}

// ---- The header: proposals waiting for a decision ----

function proposals(ctx, account, etag, mayDecide) {
  const slot = h('div', { 'data-testid': 'proposal-problem' });
  const decide = async (path, body, done) => {
    slot.replaceChildren();
    try {
      await api.call('POST', `/accounts/${account.id}/${path}`, { body, ifMatch: etag });
      notice(done);
      ctx.refresh();
    } catch (error) {
      showProblem(slot, error, ctx);
    }
  };
  const parts = [];
  if (account.proposed_tier) {
    const tier = label('tier', account.proposed_tier);
    const reason = h('input', { type: 'text', name: 'reason', maxlength: 500, 'data-testid': 'tier-reject-reason' });
    parts.push(
      h(
        'section',
        { class: 'proposal', 'data-testid': 'tier-proposal' },
        h('h2', null, t('account.tierProposal')),
        h(
          'p',
          null,
          t('account.tierProposalText', {
            tier,
            suggested: account.suggested_tier ? label('tier', account.suggested_tier) : '—',
          }),
        ),
        mayDecide
          ? h(
              'div',
              { class: 'proposal-actions' },
              h(
                'button',
                {
                  type: 'button',
                  class: 'primary',
                  'data-testid': 'tier-confirm',
                  onclick: async () => {
                    const message = t('account.tierConfirmMessage', { tier, account: account.name });
                    if (await confirmDialog(t('account.tierProposal'), message, t('account.tierConfirm'))) {
                      decide('tier/confirm', undefined, t('account.tierConfirmed'));
                    }
                  },
                },
                t('account.tierConfirm'),
              ),
              field(t('account.tierRejectReason'), reason),
              h(
                'button',
                {
                  type: 'button',
                  class: 'danger',
                  'data-testid': 'tier-reject',
                  onclick: () => decide('tier/reject', { reason: reason.value.trim() }, t('account.tierRejected')),
                },
                t('account.tierReject'),
              ),
            )
          : h('p', { class: 'hint' }, t('account.tierWaiting')),
      ),
    );
  }
  if (account.at_risk_proposed_at) {
    const ask = async (message, confirmLabel, path, done) => {
      if (await confirmDialog(t('account.atRiskProposal'), message, confirmLabel)) decide(path, undefined, done);
    };
    parts.push(
      h(
        'section',
        { class: 'proposal', 'data-testid': 'at-risk-proposal' },
        h('h2', null, t('account.atRiskProposal')),
        h(
          'p',
          null,
          t('account.atRiskText', {
            date: format.date(account.at_risk_proposed_at),
            warnings: account.warnings.map((w) => label('warning', w.code)).join(', ') || '—',
          }),
        ),
        mayDecide
          ? h(
              'div',
              { class: 'proposal-actions' },
              h(
                'button',
                {
                  type: 'button',
                  class: 'danger',
                  'data-testid': 'at-risk-confirm',
                  onclick: () =>
                    ask(
                      t('account.atRiskConfirmMessage', { account: account.name }),
                      t('account.atRiskConfirm'),
                      'at-risk/confirm',
                      t('account.atRiskConfirmed'),
                    ),
                },
                t('account.atRiskConfirm'),
              ),
              h(
                'button',
                {
                  type: 'button',
                  class: 'secondary',
                  'data-testid': 'at-risk-dismiss',
                  onclick: () =>
                    ask(
                      t('account.atRiskDismissMessage'),
                      t('account.atRiskDismiss'),
                      'at-risk/dismiss',
                      t('account.atRiskDismissed'),
                    ),
                },
                t('account.atRiskDismiss'),
              ),
            )
          : h('p', { class: 'hint' }, t('account.atRiskWaiting')),
      ),
    );
  }
  return parts.length ? h('div', { class: 'proposals' }, parts, slot) : null;
}

// ---- Overview: details, scores, health, ownership, the edit form ----

// The editable fields: [path, kind]. Kinds: text (a string), nullable (a
// string or null), long (a text area), list (comma-separated strings),
// score (0-100 or null), enum (one of `options`), nullableEnum.
function editableFields(mayConfirmTier) {
  const tiers = [['', t('account.noTier')], ...TIERS.map((v) => [v, label('tier', v)])];
  return [
    ['name', 'text'],
    ['segment', 'enum', SEGMENTS.map((v) => [v, label('segment', v)])],
    ['stage', 'enum', STAGES.map((v) => [v, label('stage', v)])],
    ['lost_reason', 'nullable', null, 'account.hint.lost_reason'],
    ['risk_reasons', 'list', null, 'account.hint.risk_reasons'],
    ['industry', 'nullable'],
    ['phone', 'nullable'],
    ['website', 'nullable'],
    ['tags', 'list', null, 'account.hint.commas'],
    mayConfirmTier ? ['tier', 'nullableEnum', tiers] : null,
    ['proposed_tier', 'nullableEnum', tiers],
    ...SCORES.map((score) => [`scores.${score}`, 'score', null, 'account.hint.score']),
    ...ADDRESS.map((part) => [`address.${part}`, 'nullable']),
    ['notes', 'long'],
  ].filter(Boolean);
}

function fromRecord(kind, value) {
  if (kind === 'list') return value ?? [];
  if (kind === 'text' || kind === 'long') return value ?? '';
  if (kind === 'nullable') return value || null;
  return value ?? null;
}

function fromControl(kind, raw) {
  if (kind === 'list') return raw.split(/[,,]/).map((part) => part.trim()).filter(Boolean);
  if (kind === 'text') return raw.trim();
  if (kind === 'long' || kind === 'enum') return raw;
  if (kind === 'nullable') return raw.trim() || null;
  if (kind === 'score') return raw === '' ? null : Number(raw);
  return raw || null;
}

/** The fieldset of the edit form a field goes in. */
function groupOf(path) {
  if (path.startsWith('scores.') || path.endsWith('tier')) return 'scoring';
  if (path.startsWith('address.')) return 'address';
  return path === 'notes' ? 'notes' : 'details';
}

function fieldLabel(path) {
  return path.startsWith('scores.') ? t(`account.score.${path.slice(7)}`) : t(`account.field.${path}`);
}

function editForm(ctx, account, etag, mayConfirmTier) {
  const specs = editableFields(mayConfirmTier);
  const controls = new Map();
  const valueAt = (path) => path.split('.').reduce((record, key) => (record ? record[key] : undefined), account);
  const control = ([path, kind, options]) => {
    const original = fromRecord(kind, valueAt(path));
    let element;
    if (kind === 'enum' || kind === 'nullableEnum') element = select(path, options, original ?? '');
    else if (kind === 'long') element = h('textarea', { name: path, rows: 5 }, original);
    else if (kind === 'score') {
      element = h('input', { type: 'number', name: path, min: 0, max: 100, step: 1, value: original ?? '' });
    } else {
      element = h('input', {
        type: 'text',
        name: path,
        value: kind === 'list' ? original.join(', ') : original ?? '',
        required: path === 'name',
      });
    }
    controls.set(path, element);
    return element;
  };
  const group = (legend, name, wide) =>
    h(
      'fieldset',
      null,
      h('legend', null, legend),
      h(
        'div',
        { class: wide ? 'form-grid wide' : 'form-grid' },
        specs
          .filter(([path]) => groupOf(path) === name)
          .map((spec) => field(fieldLabel(spec[0]), control(spec), spec[3] ? t(spec[3]) : null)),
      ),
    );

  const problemSlot = h('div', { 'data-testid': 'account-problem', 'aria-live': 'polite' });
  const save = h('button', { type: 'submit', class: 'primary', 'data-testid': 'account-save' }, t('common.save'));
  const buildPatch = () => {
    const patch = {};
    for (const [path, kind] of specs) {
      const before = fromRecord(kind, valueAt(path));
      const after = fromControl(kind, controls.get(path).value);
      if (JSON.stringify(before) === JSON.stringify(after)) continue;
      const keys = path.split('.');
      let target = patch;
      for (const key of keys.slice(0, -1)) target = target[key] ??= {};
      target[keys.at(-1)] = after;
    }
    return patch;
  };
  return h(
    'form',
    {
      class: 'card account-form',
      'data-testid': 'account-form',
      'aria-labelledby': 'account-form-title',
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        problemSlot.replaceChildren();
        for (const element of controls.values()) element.removeAttribute('aria-invalid');
        const patch = buildPatch();
        if (!Object.keys(patch).length) {
          problemSlot.replaceChildren(h('p', { class: 'hint', role: 'status' }, t('account.nothingChanged')));
          return;
        }
        save.disabled = true;
        try {
          await api.patch(`/accounts/${account.id}`, patch, etag);
          notice(t('common.saved'));
          ctx.refresh();
        } catch (error) {
          save.disabled = false;
          showProblem(problemSlot, error, ctx);
          for (const violation of error.violations || []) {
            const element = controls.get(violation.field);
            if (element) element.setAttribute('aria-invalid', 'true');
          }
        }
      },
    },
    h('h2', { id: 'account-form-title' }, t('account.editTitle')),
    group(t('account.details'), 'details'),
    group(t('account.scoring'), 'scoring'),
    group(t('account.field.address'), 'address'),
    group(t('account.field.notes'), 'notes', true),
    problemSlot,
    h('div', { class: 'buttons' }, save),
  );
}

function reassignBlock(ctx, account, etag, people, who) {
  const reps = people.users
    ? [...people.users.values()]
        .filter((user) => user.role === 'rep' && user.active)
        .sort((a, b) => a.display_name.localeCompare(b.display_name))
        .map((user) => [user.id, user.display_name])
    : [];
  if (!reps.some(([id]) => id === account.owner_id)) reps.unshift([account.owner_id, who(account.owner_id)]);
  const owner = select('owner_id', reps, account.owner_id);
  owner.dataset.testid = 'reassign-owner';
  const slot = h('div', { 'data-testid': 'reassign-problem', 'aria-live': 'polite' });
  const button = h(
    'button',
    {
      type: 'button',
      class: 'primary',
      'data-testid': 'reassign',
      onclick: async () => {
        slot.replaceChildren();
        const target = owner.value;
        if (target === account.owner_id) {
          slot.replaceChildren(h('p', { class: 'hint', role: 'status' }, t('account.sameOwner')));
          return;
        }
        const message = t('account.reassignMessage', {
          account: account.name,
          from: who(account.owner_id),
          to: who(target),
        });
        if (!(await confirmDialog(t('account.reassignTitle'), message, t('account.reassign')))) return;
        button.disabled = true;
        try {
          await api.patch(`/accounts/${account.id}`, { owner_id: target }, etag);
          notice(t('account.reassigned', { name: who(target) }));
          ctx.refresh();
        } catch (error) {
          button.disabled = false;
          showProblem(slot, error, ctx);
        }
      },
    },
    t('account.reassign'),
  );
  return h(
    'div',
    { class: 'reassign' },
    h('div', { class: 'reassign-row' }, field(t('account.reassignTo'), owner), button),
    slot,
  );
}

function overview(ctx, account, etag, people, who) {
  const { me } = ctx;
  const isManager = MANAGERS.includes(me.role);
  const editSlot = h('div');
  const editButton =
    me.role === 'service'
      ? null
      : h(
          'button',
          {
            type: 'button',
            class: 'secondary',
            'data-testid': 'account-edit',
            'aria-expanded': 'false',
            onclick: () => {
              const open = editButton.getAttribute('aria-expanded') === 'true';
              editButton.setAttribute('aria-expanded', String(!open));
              editButton.textContent = open ? t('account.edit') : t('account.closeEdit');
              editSlot.replaceChildren(open ? '' : editForm(ctx, account, etag, isManager));
              if (!open) editSlot.querySelector('input, select, textarea').focus();
            },
          },
          t('account.edit'),
        );

  const conflicts = account.conflicts.length
    ? [
        t('account.conflicts'),
        h(
          'ul',
          { class: 'plain' },
          account.conflicts.map((c) =>
            h(
              'li',
              null,
              t('account.conflictOthers', {
                field: c.field,
                value: JSON.stringify(c.value),
                others: c.others.map((o) => JSON.stringify(o)).join(', '),
              }),
            ),
          ),
        ),
      ]
    : null;
  const detailsCard = card(
    t('account.details'),
    details([
      [t('account.field.segment'), label('segment', account.segment)],
      [t('account.field.industry'), account.industry],
      [t('account.field.phone'), account.phone],
      [t('account.field.website'), account.website],
      [t('account.field.address'), addressText(account.address)],
      [
        t('account.field.tags'),
        account.tags.length ? h('span', { class: 'badges' }, account.tags.map((tag) => badge(tag, 'muted'))) : null,
      ],
      [t('account.field.notes'), account.notes ? h('p', { class: 'notes' }, account.notes) : null],
      [t('account.field.created'), format.dateTime(account.created_at)],
      [t('account.field.updated'), format.dateTime(account.updated_at)],
      conflicts,
    ]),
  );

  const rejection = account.tier_rejection;
  const scoringCard = card(
    t('account.scoring'),
    details([
      [t('accounts.tier'), tierBadge(account.tier)],
      [t('account.field.proposed_tier'), label('tier', account.proposed_tier)],
      [t('account.field.suggested_tier'), label('tier', account.suggested_tier)],
      [t('account.field.score'), format.number(account.score)],
      ...SCORES.map((score) => [t(`account.score.${score}`), format.number(account.scores[score])]),
    ]),
    rejection
      ? h(
          'p',
          { class: 'hint' },
          t('account.tierRejection', {
            tier: label('tier', rejection.tier),
            date: format.date(rejection.at),
            by: who(rejection.by),
            reason: rejection.reason,
          }),
        )
      : null,
  );

  const healthCard = card(
    t('account.healthCard'),
    details([
      [t('account.field.health'), healthView(account)],
      [t('account.field.last_visit'), format.dateTime(account.last_visit_at)],
      [
        t('account.field.next_due'),
        h(
          'span',
          null,
          format.date(account.next_visit_due),
          account.visit_overdue ? [' ', badge(t('account.overdue'), 'bad')] : null,
        ),
      ],
      account.risk_reasons && account.risk_reasons.length
        ? [t('account.field.risk_reasons'), account.risk_reasons.map(riskReason).join(', ')]
        : null,
      account.lost_reason ? [t('account.field.lost_reason'), account.lost_reason] : null,
      account.won_back_count ? [t('account.field.won_back'), format.number(account.won_back_count)] : null,
    ]),
    h('h3', null, t('account.warningsTitle')),
    account.warnings.length
      ? h(
          'ul',
          { class: 'warnings', 'data-testid': 'warnings' },
          account.warnings.map((w) =>
            h(
              'li',
              { 'data-code': w.code },
              badge(label('severity', w.severity), severityTone(w.severity)),
              ' ',
              h('strong', null, label('warning', w.code)),
              ' ',
              h('span', { class: 'hint' }, t('account.warningSince', { date: format.date(w.since) })),
            ),
          ),
        )
      : h('p', { class: 'hint', 'data-testid': 'warnings' }, t('account.noWarnings')),
  );

  const ownershipCard = card(
    t('account.ownership'),
    details([
      [t('account.field.owner'), who(account.owner_id)],
      [t('account.field.team'), teamName(people, account.team_id, me)],
      [t('account.field.shared_with'), account.shared_with.length ? account.shared_with.map(who).join(', ') : null],
    ]),
    isManager ? reassignBlock(ctx, account, etag, people, who) : null,
  );

  return h(
    'div',
    { class: 'stack' },
    editButton ? h('div', { class: 'toolbar' }, editButton) : null,
    editSlot,
    h('div', { class: 'cards' }, detailsCard, scoringCard, healthCard, ownershipCard),
  );
}

// ---- Key persons: the org chart and the contacts ----

function orgChart(chart) {
  const names = new Map();
  const collect = (node) => {
    names.set(node.id, node.name);
    node.reports.forEach(collect);
  };
  chart.roots.forEach(collect);
  const flags = new Map();
  for (const gap of chart.gaps) {
    if (gap.contact_id) flags.set(gap.contact_id, [...(flags.get(gap.contact_id) || []), gap.code]);
  }
  const gapBadge = (code) => badge(has(`account.gap.${code}`) ? word('gap', code) : code, TONES.gap[code] || 'warn');
  const node = (person) =>
    h(
      'li',
      null,
      h(
        'div',
        { class: flags.has(person.id) ? 'org-node flagged' : 'org-node', 'data-id': person.id },
        h('strong', null, person.name),
        person.title || person.department
          ? h('div', { class: 'title' }, [person.title, person.department].filter(Boolean).join(' · '))
          : null,
        h(
          'div',
          { class: 'badges' },
          person.buying_role
            ? badge(word('role', person.buying_role), person.buying_role === 'decision_maker' ? 'ok' : 'muted')
            : null,
          person.attitude ? status('attitude', person.attitude, 'attitude') : null,
          person.influence ? badge(t('account.influence', { value: person.influence }), 'muted') : null,
          person.relationship_strength
            ? badge(t('account.relationship', { value: person.relationship_strength }), 'muted')
            : null,
          person.personality ? badge(word('personality', person.personality), 'muted') : null,
          (flags.get(person.id) || []).map(gapBadge),
        ),
      ),
      person.reports.length ? h('ul', null, person.reports.map(node)) : null,
    );
  return h(
    'section',
    { class: 'card org', 'data-testid': 'org-chart' },
    h('h2', null, t('account.orgChart')),
    h('h3', null, t('account.gaps')),
    chart.gaps.length
      ? h(
          'ul',
          { class: 'gaps' },
          chart.gaps.map((gap) =>
            h(
              'li',
              { class: 'gap', 'data-code': gap.code },
              gapBadge(gap.code),
              gap.contact_id && names.has(gap.contact_id) ? ` ${names.get(gap.contact_id)}` : null,
            ),
          ),
        )
      : h('p', { class: 'hint' }, t('account.noGaps')),
    chart.roots.length
      ? h('ul', { class: 'org-tree', 'aria-label': t('account.orgChart') }, chart.roots.map(node))
      : h('p', { class: 'hint' }, t('account.noPersons')),
  );
}

function peoplePanel(account) {
  return h(
    'div',
    { class: 'stack' },
    deferred(async () => orgChart(await api.get(`/accounts/${account.id}/org-chart`))),
    h(
      'section',
      { class: 'card' },
      pagedTable({
        path: '/contacts',
        accountId: account.id,
        testid: 'contacts-table',
        caption: t('account.contacts'),
        columns: [
          [t('account.col.name'), (c) => c.name],
          [t('account.col.title'), (c) => c.title || '—'],
          [t('account.col.department'), (c) => c.department || '—'],
          [t('account.col.role'), (c) => word('role', c.buying_role)],
          [t('account.col.attitude'), (c) => status('attitude', c.attitude, 'attitude')],
          [t('account.col.phone'), (c) => c.phone || '—'],
          [t('account.col.email'), (c) => c.email || '—'],
          [t('account.col.wechat'), (c) => c.wechat || '—'],
        ],
      }),
    ),
  );
}

// ---- Visits, opportunities, plans, contracts, service ----

function visitsPanel(account, who) {
  return h(
    'section',
    { class: 'card' },
    pagedTable({
      path: '/visits',
      accountId: account.id,
      testid: 'visits-table',
      caption: t('account.visitsTitle'),
      columns: [
        [t('account.col.planned'), (v) => format.dateTime(v.planned_at)],
        [t('account.col.type'), (v) => word('visitType', v.type)],
        [t('account.col.purpose'), (v) => v.purpose || '—'],
        [t('account.col.status'), (v) => status('visitStatus', v.status, 'visit')],
        [t('account.col.owner'), (v) => who(v.owner_id)],
        [
          t('account.col.checkIn'),
          (v) =>
            v.check_in
              ? h(
                  'div',
                  null,
                  format.dateTime(v.check_in.at),
                  v.check_in_distance_m !== null
                    ? h(
                        'div',
                        { class: 'sub' },
                        t('account.distance', { value: format.number(v.check_in_distance_m) }),
                        v.check_in_too_far ? [' ', badge(t('account.tooFar'), 'bad')] : null,
                      )
                    : null,
                )
              : '—',
        ],
        [
          t('account.col.effective'),
          (v) => (v.effective ? badge(t('account.effective'), 'ok') : badge(t('account.notEffective'), 'muted')),
        ],
        [t('account.col.outcome'), (v) => word('outcome', v.outcome)],
      ],
    }),
  );
}

function stageHistory(deal, who) {
  if (!deal.stage_history.length) return null;
  return h(
    'details',
    { class: 'history' },
    h('summary', null, t('account.stageHistory', { count: deal.stage_history.length })),
    h(
      'ol',
      null,
      deal.stage_history.map((change) =>
        h(
          'li',
          null,
          t('account.stageEntry', {
            stage: word('dealStage', change.stage),
            date: format.dateTime(change.at),
            by: who(change.by),
          }),
        ),
      ),
    ),
  );
}

function opportunitiesPanel(account, who) {
  return h(
    'section',
    { class: 'card' },
    pagedTable({
      path: '/opportunities',
      accountId: account.id,
      testid: 'opportunities-table',
      caption: t('account.dealsTitle'),
      columns: [
        [t('account.col.deal'), (o) => h('div', null, o.name, stageHistory(o, who))],
        [t('account.col.stage'), (o) => status('dealStage', o.stage, 'deal')],
        [t('account.col.amount'), (o) => format.money(o.amount, o.currency), true],
        [t('account.col.probability'), (o) => format.percent(o.effective_probability / 100), true],
        [
          t('account.col.close'),
          (o) =>
            h(
              'span',
              null,
              format.date(o.expected_close_on),
              o.overdue ? [' ', badge(t('account.overdue'), 'bad')] : null,
            ),
        ],
        [t('account.col.owner'), (o) => who(o.owner_id)],
      ],
    }),
  );
}

function planView(plan, who) {
  return h(
    'article',
    { class: 'card plan', 'data-id': plan.id },
    h('h3', null, plan.title),
    h(
      'p',
      { class: 'badges' },
      status('planStatus', plan.status, 'plan'),
      h(
        'span',
        null,
        t('account.period', { kind: word('periodKind', plan.period_kind), start: format.date(plan.period_start) }),
      ),
      plan.progress !== null ? h('span', null, t('account.progress', { value: format.percent(plan.progress) })) : null,
      plan.overdue_actions ? badge(t('account.overdueActions', { count: plan.overdue_actions }), 'bad') : null,
      h('span', null, who(plan.owner_id)),
    ),
    plan.goals.length
      ? [
          h('h4', null, t('account.goals')),
          h(
            'ul',
            null,
            plan.goals.map((goal) =>
              h('li', null, goal.text, goal.achieved ? [' ', badge(t('account.achieved'), 'ok')] : null),
            ),
          ),
        ]
      : null,
    plan.strategies ? [h('h4', null, t('account.strategies')), h('p', { class: 'notes' }, plan.strategies)] : null,
    h(
      'div',
      { class: 'table-wrap' },
      table(
        [
          { label: t('account.col.action'), cell: (a) => a.text },
          { label: t('account.col.owner'), cell: (a) => who(a.owner_id) },
          { label: t('account.col.due'), cell: (a) => format.date(a.due_on) },
          { label: t('account.col.status'), cell: (a) => status('actionStatus', a.status, 'action') },
        ],
        plan.actions,
        { caption: t('account.actions') },
      ),
    ),
    plan.resources.length
      ? h(
          'div',
          { class: 'table-wrap' },
          table(
            [
              { label: t('account.col.resource'), cell: (r) => word('resourceKind', r.kind) },
              { label: t('account.col.description'), cell: (r) => r.description },
              { label: t('account.col.amount'), cell: (r) => format.money(r.amount, plan.currency), numeric: true },
              { label: t('account.col.status'), cell: (r) => status('resourceStatus', r.status, 'resource') },
            ],
            plan.resources,
            { caption: t('account.resources') },
          ),
        )
      : null,
  );
}

function plansPanel(account, who) {
  const list = h('div', { class: 'stack plans', 'data-testid': 'plans' });
  return h(
    'section',
    null,
    h('h2', null, t('account.plansTitle')),
    paged({
      load: (cursor) => api.get('/account-plans', { account_id: account.id, limit: PAGE_SIZE, cursor }),
      frame: list,
      container: list,
      renderItem: (plan) => planView(plan, who),
      empty: () => h('p', { class: 'hint' }, t('common.none')),
      testid: 'plans',
    }),
  );
}

function contractsPanel(account, who) {
  return h(
    'section',
    { class: 'card' },
    pagedTable({
      path: '/contracts',
      accountId: account.id,
      testid: 'contracts-table',
      caption: t('account.contractsTitle'),
      columns: [
        [t('account.col.number'), (c) => c.number],
        [t('account.col.status'), (c) => status('contractStatus', c.status, 'contract')],
        [t('account.col.amount'), (c) => format.money(c.amount, c.currency), true],
        [t('account.col.signed'), (c) => format.date(c.signed_on)],
        [
          t('account.col.term'),
          (c) => t('account.term', { start: format.date(c.start_on), end: format.date(c.end_on) }),
        ],
        [t('account.col.payment'), (c) => c.payment_terms || '—'],
        [t('account.col.owner'), (c) => who(c.owner_id)],
      ],
    }),
  );
}

function servicePanel(account, who) {
  return h(
    'div',
    { class: 'stack' },
    h(
      'section',
      { class: 'card' },
      pagedTable({
        path: '/tickets',
        accountId: account.id,
        testid: 'tickets-table',
        caption: t('account.ticketsTitle'),
        columns: [
          [t('account.col.subject'), (k) => k.title],
          [t('account.col.type'), (k) => word('ticketType', k.type)],
          [t('account.col.severity'), (k) => status('severity', k.severity, 'severity')],
          [t('account.col.status'), (k) => status('ticketStatus', k.status, 'ticket')],
          [t('account.col.opened'), (k) => format.dateTime(k.opened_at)],
          [
            t('account.col.sla'),
            (k) =>
              h(
                'span',
                null,
                format.dateTime(k.sla_due_at),
                k.sla_breached ? [' ', badge(t('account.slaBreached'), 'bad')] : null,
              ),
          ],
          [t('account.col.owner'), (k) => who(k.assignee_id)],
        ],
      }),
    ),
    h(
      'section',
      { class: 'card' },
      pagedTable({
        path: '/callbacks',
        accountId: account.id,
        testid: 'callbacks-table',
        caption: t('account.callbacksTitle'),
        columns: [
          [t('account.col.scheduled'), (c) => format.date(c.scheduled_on)],
          [t('account.col.kind'), (c) => word('callbackKind', c.kind)],
          [t('account.col.status'), (c) => status('callbackStatus', c.status, 'callback')],
          [
            t('account.col.satisfaction'),
            (c) =>
              c.satisfaction
                ? h(
                    'span',
                    null,
                    t('account.rating', { value: c.satisfaction }),
                    c.low_satisfaction ? [' ', badge(t('account.lowSatisfaction'), 'bad')] : null,
                  )
                : '—',
          ],
          [t('account.col.comments'), (c) => (c.comments ? truncate(c.comments) : '—')],
          [t('account.col.owner'), (c) => who(c.owner_id)],
        ],
      }),
    ),
  );
}

// ---- Timeline ----

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A value of a timeline change for people: ids of users and teams by name. */
function shown(value, path, named) {
  if (value === null || value === undefined || value === '') return t('account.empty');
  if (typeof value === 'string') {
    return path.endsWith('_id') && UUID.test(value) ? named(path, value) : truncate(value, 80);
  }
  if (typeof value === 'object') return truncate(JSON.stringify(value), 80);
  return String(value);
}

function timelineEntry(entry, who, named) {
  const author = entry.user_name || (entry.user_id ? who(entry.user_id) : t('account.server'));
  const kind = has(`account.kind.${entry.record_kind}`) ? word('kind', entry.record_kind) : entry.record_kind;
  const fields = entry.fields || {};
  const name = entry.what === 'created' ? fields.name || fields.title || fields.purpose || fields.number : null;
  return h(
    'li',
    { 'data-kind': entry.record_kind, 'data-what': entry.what },
    h('time', { datetime: entry.at }, format.dateTime(entry.at)),
    h(
      'div',
      null,
      h('strong', null, author),
      ' ',
      t('account.entry', { what: word('what', entry.what), kind }),
      name ? ` ${t('account.entryName', { name: truncate(String(name), 80) })}` : null,
    ),
    entry.changes && entry.changes.length
      ? h(
          'ul',
          { class: 'changes' },
          entry.changes.map((change) =>
            h(
              'li',
              null,
              t('account.change', {
                field: change.path,
                old: shown(change.old, change.path, named),
                new: shown(change.new, change.path, named),
              }),
            ),
          ),
        )
      : null,
  );
}

function timelinePanel(account, who, named) {
  const list = h('ol', { class: 'timeline', 'data-testid': 'timeline' });
  return h(
    'section',
    { class: 'card' },
    h('h2', null, t('account.timelineTitle')),
    paged({
      load: (cursor) => api.get(`/accounts/${account.id}/timeline`, { limit: PAGE_SIZE, cursor }),
      frame: list,
      container: list,
      renderItem: (entry) => timelineEntry(entry, who, named),
      empty: () => h('li', { class: 'empty' }, t('common.none')),
      testid: 'timeline',
    }),
  );
}

// ---- The page ----

function tabs(accountId, initial, panels) {
  const buttons = new Map();
  const views = new Map();
  const choose = (name, focus) => {
    for (const [key, button] of buttons) {
      const selected = key === name;
      button.setAttribute('aria-selected', String(selected));
      button.tabIndex = selected ? 0 : -1;
      views.get(key).hidden = !selected;
    }
    if (focus) buttons.get(name).focus();
    history.replaceState(null, '', `#/accounts/${accountId}${name === 'overview' ? '' : `?tab=${name}`}`);
  };
  const onKey = (event) => {
    const index = TABS.indexOf(event.currentTarget.dataset.tab);
    const moves = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: TABS.length - 1 };
    if (!(event.key in moves)) return;
    event.preventDefault();
    choose(TABS[(moves[event.key] + TABS.length) % TABS.length], true);
  };
  for (const name of TABS) {
    buttons.set(
      name,
      h(
        'button',
        {
          type: 'button',
          role: 'tab',
          id: `tab-${name}`,
          'data-testid': `tab-${name}`,
          'data-tab': name,
          'aria-controls': `panel-${name}`,
          'aria-selected': String(name === initial),
          tabindex: name === initial ? '0' : '-1',
          onclick: () => choose(name),
          onkeydown: onKey,
        },
        t(`account.tab.${name}`),
      ),
    );
    views.set(
      name,
      h(
        'div',
        {
          role: 'tabpanel',
          id: `panel-${name}`,
          'aria-labelledby': `tab-${name}`,
          tabindex: '0',
          hidden: name !== initial,
        },
        panels[name],
      ),
    );
  }
  return [
    h('div', { class: 'tabs', role: 'tablist', 'aria-label': t('account.tabs') }, [...buttons.values()]),
    [...views.values()],
  ];
}

export async function render(ctx) {
  const { me } = ctx;
  const [id] = ctx.params;
  const [{ data: account, etag }, people] = await Promise.all([api.call('GET', `/accounts/${id}`), loadPeople(me)]);
  const who = (userId) => personName(people, me, userId);
  const initial = TABS.includes(ctx.query.get('tab')) ? ctx.query.get('tab') : 'overview';
  const panels = {
    overview: overview(ctx, account, etag, people, who),
    people: peoplePanel(account),
    visits: visitsPanel(account, who),
    opportunities: opportunitiesPanel(account, who),
    plans: plansPanel(account, who),
    contracts: contractsPanel(account, who),
    service: servicePanel(account, who),
    timeline: timelinePanel(account, who, (path, id) => (path === 'team_id' ? teamName(people, id, me) : who(id))),
  };
  return h(
    'section',
    { class: 'page account-page' },
    h('p', { class: 'back' }, h('a', { href: '#/accounts' }, t('account.back'))),
    h(
      'header',
      { class: 'account-head' },
      h('h1', { 'data-testid': 'account-name' }, account.name),
      h(
        'div',
        { class: 'badges' },
        tierBadge(account.tier),
        stageBadge(account.stage),
        account.health !== null ? healthView(account) : null,
        h('span', { class: 'hint' }, `${t('account.field.owner')}: ${who(account.owner_id)}`),
      ),
    ),
    proposals(ctx, account, etag, MANAGERS.includes(me.role)),
    tabs(account.id, initial, panels),
  );
}
