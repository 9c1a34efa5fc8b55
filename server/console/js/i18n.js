// Labels in zh-CN and en. Each page module registers its own messages;
// the language comes from the switch (kept in localStorage), else from the
// browser's languages. Every key must exist in both catalogs:
// `catalogGaps()` lists those that do not (the browser tests call it).

export const LANGUAGES = ['zh-CN', 'en'];
const LANG_KEY = 'kam.console.lang';
const catalogs = { 'zh-CN': {}, en: {} };

function browserLanguage() {
  for (const tag of navigator.languages || [navigator.language || 'en']) {
    const lower = tag.toLowerCase();
    if (lower.startsWith('zh')) return 'zh-CN';
    if (lower.startsWith('en')) return 'en';
  }
  return 'en';
}

let current = LANGUAGES.includes(localStorage.getItem(LANG_KEY))
  ? localStorage.getItem(LANG_KEY)
  : browserLanguage();

/** The language in use. */
export function lang() {
  return current;
}

/** Switches the language (and remembers it). */
export function setLang(next) {
  if (!LANGUAGES.includes(next)) return;
  current = next;
  localStorage.setItem(LANG_KEY, next);
  document.documentElement.lang = next;
}

/** Adds messages: `{ 'zh-CN': { key: text }, en: { key: text } }`. */
export function register(messages) {
  for (const language of LANGUAGES) Object.assign(catalogs[language], messages[language] || {});
}

/** The text of `key` with `{name}` placeholders filled from `vars`. */
export function t(key, vars) {
  const text = catalogs[current][key] ?? catalogs.en[key] ?? key;
  if (!vars) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) => (name in vars ? String(vars[name]) : whole));
}

/** Whether `key` has a message. */
export function has(key) {
  return key in catalogs[current];
}

/** Keys present in one catalog and missing from another. */
export function catalogGaps() {
  const gaps = [];
  for (const language of LANGUAGES) {
    for (const other of LANGUAGES) {
      for (const key of Object.keys(catalogs[other])) {
        if (!(key in catalogs[language])) gaps.push(`${language}: ${key}`);
      }
    }
  }
  return [...new Set(gaps)];
}

register({
  'zh-CN': {
    'app.name': 'KAM Sync 大客户管理',
    'nav.home': '首页',
    'nav.accounts': '客户',
    'nav.team': '团队',
    'nav.service': '客服',
    'nav.admin': '管理',
    'nav.language': '语言',
    'nav.logout': '退出登录',
    'nav.main': '主导航',
    'nav.skip': '跳到正文',
    'role.admin': '系统管理员',
    'role.director': '业务部经理',
    'role.manager': '销售经理',
    'role.rep': '客户经理',
    'role.service': '客服',
    'common.loading': '加载中…',
    'common.save': '保存',
    'common.cancel': '取消',
    'common.confirm': '确认',
    'common.close': '关闭',
    'common.edit': '编辑',
    'common.create': '新建',
    'common.search': '搜索',
    'common.filter': '筛选',
    'common.more': '加载更多',
    'common.none': '暂无',
    'common.yes': '是',
    'common.no': '否',
    'common.all': '全部',
    'common.saved': '已保存',
    'common.retry': '重试',
    'common.back': '返回',
    'common.total': '合计',
    'common.name': '名称',
    'common.status': '状态',
    'common.actions': '操作',
    'error.title': '无法完成',
    'error.field': '{field}:{message}',
    'error.page': '无法打开此页面',
    'problem.session_ended': '会话已结束，请重新登录。',
    'problem.invalid_credentials': '用户名或密码错误。',
    'problem.too_many_attempts': '登录失败次数过多，请稍后再试。',
    'problem.role_forbidden': '您的角色无权执行此操作。',
    'problem.read_only_role': '您的角色对此类记录只读。',
    'problem.not_found': '记录不存在，或不在您的范围内。',
    'problem.precondition_failed': '记录已被他人修改，请刷新后再试。',
    'problem.validation_failed': '部分字段不符合规则。',
    'problem.user_inactive': '该用户已停用。',
    'problem.session_revoked': '会话已被撤销，请重新登录。',
    'problem.owner_change_forbidden': '您无权重新分配此记录。',
    'problem.internal_error': '服务器出错，请稍后再试。',
    'problem.server_busy': '服务器繁忙，请稍后再试。',
    'problem.cross_site_refused': '请求不是来自本控制台页面。',
    'problem.invalid_query': '查询参数无效。',
    'problem.invalid_cursor': '分页位置已失效，请从头加载。',
    'problem.invalid_body': '提交的内容格式不对。',
    'problem.invalid_token': '登录已过期，请重新登录。',
    'problem.invalid_refresh_token': '会话已过期，请重新登录。',
    'problem.refresh_token_reused': '会话因安全原因已结束，请重新登录。',
    'problem.share_change_forbidden': '您无权修改此客户的共享对象。',
    'problem.tier_confirmation_forbidden': '只有客户的主管经理可以确认或驳回分级。',
    'problem.stage_reopen_forbidden': '只有客户的主管经理可以让商机回退阶段。',
    'problem.approval_forbidden': '只有客户的主管经理可以审批资源申请。',
    'problem.target_scope_forbidden': '此层级的目标由您的上级设定。',
    'problem.at_risk_decision_forbidden': '只有客户的主管经理可以确认或驳回流失预警。',
    'problem.route_not_found': '页面不存在。',
    'problem.already_exists': '已存在相同标识的记录。',
    'problem.last_admin': '不能停用最后一位系统管理员。',
    'problem.visit_closed': '拜访已完成或已取消。',
    'problem.no_at_risk_proposal': '此客户没有待处理的流失预警。',
    'problem.no_tier_proposal': '此客户没有待确认的分级建议。',
    'problem.opportunity_not_won': '只有赢单的商机才能生成合同。',
    'problem.contract_exists': '此商机已有合同。',
    'problem.contract_number_taken': '合同编号已被使用。',
    'problem.product_code_taken': '产品编码已被使用。',
    'problem.contract_closed': '合同已关闭，只能修改备注。',
    'problem.target_exists': '此范围和期间的目标已存在。',
    'problem.invalid_stage_move': '不能转到这个阶段。',
    'problem.invalid_status_move': '不能转到这个状态。',
    'problem.plan_exists': '此客户在该期间已有进行中的计划。',
    'problem.too_many_key_persons': '此客户的关键人数量已达上限。',
    'problem.decomposition_exceeded': '分解目标之和超过了总目标。',
    'problem.callback_required': '投诉需完成回访后才能关闭。',
    'problem.payload_too_large': '提交的内容过大。',
    'problem.method_not_allowed': '不支持此操作。',
    'problem.history_full': '此记录的修改次数已达上限。',
    'problem.database_unavailable': '数据库暂不可用，请稍后再试。',
  },
  en: {
    'app.name': 'KAM Sync',
    'nav.home': 'Home',
    'nav.accounts': 'Accounts',
    'nav.team': 'Team',
    'nav.service': 'Service desk',
    'nav.admin': 'Admin',
    'nav.language': 'Language',
    'nav.logout': 'Log out',
    'nav.main': 'Main navigation',
    'nav.skip': 'Skip to content',
    'role.admin': 'Administrator',
    'role.director': 'Director',
    'role.manager': 'Sales manager',
    'role.rep': 'Account manager',
    'role.service': 'Service desk',
    'common.loading': 'Loading…',
    'common.save': 'Save',
    'common.cancel': 'Cancel',
    'common.confirm': 'Confirm',
    'common.close': 'Close',
    'common.edit': 'Edit',
    'common.create': 'New',
    'common.search': 'Search',
    'common.filter': 'Filter',
    'common.more': 'Load more',
    'common.none': 'None',
    'common.yes': 'Yes',
    'common.no': 'No',
    'common.all': 'All',
    'common.saved': 'Saved',
    'common.retry': 'Retry',
    'common.back': 'Back',
    'common.total': 'Total',
    'common.name': 'Name',
    'common.status': 'Status',
    'common.actions': 'Actions',
    'error.title': 'Could not do that',
    'error.field': '{field}: {message}',
    'error.page': 'This page cannot be shown',
    'problem.session_ended': 'Your session has ended; log in again.',
    'problem.invalid_credentials': 'Wrong username or password.',
    'problem.too_many_attempts': 'Too many failed logins; try again later.',
    'problem.role_forbidden': 'Your role may not do this.',
    'problem.read_only_role': 'Your role only reads records of this kind.',
    'problem.not_found': 'The record does not exist, or is outside your scope.',
    'problem.precondition_failed': 'Someone changed this record meanwhile; reload and try again.',
    'problem.validation_failed': 'Some fields break the rules.',
    'problem.user_inactive': 'This user is deactivated.',
    'problem.session_revoked': 'The session was revoked; log in again.',
    'problem.owner_change_forbidden': 'You may not reassign this record.',
    'problem.internal_error': 'The server failed; try again later.',
    'problem.server_busy': 'The server is busy; try again shortly.',
    'problem.cross_site_refused': 'The request did not come from this console.',
    'problem.invalid_query': 'A query parameter is not valid.',
    'problem.invalid_cursor': 'The page cursor is no longer valid; load from the start.',
    'problem.invalid_body': 'The request does not have the expected shape.',
    'problem.invalid_token': 'Your login has expired; log in again.',
    'problem.invalid_refresh_token': 'The session has expired; log in again.',
    'problem.refresh_token_reused': 'The session was ended for safety; log in again.',
    'problem.share_change_forbidden': 'You may not change whom this account is shared with.',
    'problem.tier_confirmation_forbidden': "Only the account's managers confirm or reject its tier.",
    'problem.stage_reopen_forbidden': "Only the account's managers move a deal back.",
    'problem.approval_forbidden': "Only the account's managers approve resource requests.",
    'problem.target_scope_forbidden': 'Targets at this level are set by someone above you.',
    'problem.at_risk_decision_forbidden': "Only the account's managers confirm or dismiss an at-risk proposal.",
    'problem.route_not_found': 'There is no such page.',
    'problem.already_exists': 'A record with this key exists already.',
    'problem.last_admin': 'This would leave the org without an active administrator.',
    'problem.visit_closed': 'The visit is done or cancelled.',
    'problem.no_at_risk_proposal': 'The account has no at-risk proposal.',
    'problem.no_tier_proposal': 'The account has no tier proposal.',
    'problem.opportunity_not_won': 'Only a won deal becomes a contract.',
    'problem.contract_exists': 'This deal has a contract already.',
    'problem.contract_number_taken': 'Another contract has this number.',
    'problem.product_code_taken': 'Another product has this code.',
    'problem.contract_closed': 'The contract is closed; only its notes change.',
    'problem.target_exists': 'A target for this scope and period exists.',
    'problem.invalid_stage_move': 'The record does not move to this stage.',
    'problem.invalid_status_move': 'The record does not move to this status.',
    'problem.plan_exists': 'The account has an active plan for this period.',
    'problem.too_many_key_persons': 'The account has as many key persons as it may.',
    'problem.decomposition_exceeded': 'The parts would add up to more than the target.',
    'problem.callback_required': 'A complaint closes only after its callback is done.',
    'problem.payload_too_large': 'The request is too large.',
    'problem.method_not_allowed': 'This operation is not supported here.',
    'problem.history_full': 'The record has reached its limit of changes.',
    'problem.database_unavailable': 'The database is unavailable; try again shortly.',
  },
});
