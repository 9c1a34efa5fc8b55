// The console's frame: the session (resumed from the cookie on load), the
// header with navigation by role and the language switch, and the router
// from `#/path?query` to a page module. A page module exports `title` (a
// message key) and `render(ctx)`, which answers the page's element; any
// problem it throws (the API's 403 or 404 for this caller) is shown as the
// page.

import * as api from './api.js';
import { LANGUAGES, lang, setLang, t } from './i18n.js';
import { h, problemPage, select } from './ui.js';
import * as login from './pages/login.js';
import * as home from './pages/home.js';
import * as accounts from './pages/accounts.js';
import * as account from './pages/account.js';
import * as team from './pages/team.js';
import * as service from './pages/service.js';
import * as admin from './pages/admin.js';

const ROUTES = [
  [/^\/?$/, home],
  [/^\/accounts$/, accounts],
  [/^\/accounts\/([0-9a-f-]{36})$/, account],
  [/^\/team$/, team],
  [/^\/service$/, service],
  [/^\/admin(?:\/([a-z-]+))?$/, admin],
];

const NAV = [
  ['#/', 'nav.home', null],
  ['#/accounts', 'nav.accounts', null],
  ['#/team', 'nav.team', ['manager', 'director', 'admin']],
  ['#/service', 'nav.service', ['service', 'manager', 'director', 'admin']],
  ['#/admin', 'nav.admin', ['admin']],
];

let me = null;
let renderCount = 0;
const app = document.getElementById('app');

function parseHash() {
  const raw = location.hash.replace(/^#/, '') || '/';
  const [path, search] = raw.split('?');
  return { path, query: new URLSearchParams(search || '') };
}

/** Goes to `path` with `query` (an object; empty values dropped). */
function navigate(path, query) {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== '') params.set(key, value);
  }
  const search = params.toString();
  location.hash = `#${path}${search ? `?${search}` : ''}`;
}

function header() {
  const current = `#${parseHash().path}`;
  const languages = select('lang', LANGUAGES.map((code) => [code, code === 'zh-CN' ? '中文' : 'English']), lang());
  languages.id = 'lang-switch';
  languages.addEventListener('change', () => {
    setLang(languages.value);
    show();
  });
  return h(
    'header',
    { class: 'top' },
    h('a', { class: 'brand', href: '#/' }, t('app.name')),
    h(
      'nav',
      { 'aria-label': t('nav.main') },
      h(
        'ul',
        null,
        NAV.filter(([, , roles]) => !roles || roles.includes(me.role)).map(([href, key]) =>
          h(
            'li',
            null,
            h(
              'a',
              {
                href,
                'aria-current': current === href || (href !== '#/' && current.startsWith(href)) ? 'page' : null,
              },
              t(key),
            ),
          ),
        ),
      ),
    ),
    h(
      'div',
      { class: 'who' },
      h('label', { for: 'lang-switch', class: 'visually-hidden' }, t('nav.language')),
      languages,
      h('span', { class: 'user', 'data-role': me.role }, `${me.display_name} · ${t(`role.${me.role}`)}`),
      h(
        'button',
        {
          type: 'button',
          class: 'secondary',
          id: 'logout',
          onclick: async () => {
            await api.logout().catch(() => undefined);
          },
        },
        t('nav.logout'),
      ),
    ),
  );
}

/**
 * What had the focus before a render replaced it with everything else:
 * `lang` (a language switch), `page` (anything else of the console) or
 * null (nothing of the console: the page just loaded).
 */
function focusBefore() {
  const focused = document.activeElement;
  if (!focused || !app.contains(focused)) return null;
  return focused.matches('select[name=lang]') ? 'lang' : 'page';
}

/**
 * Puts the focus back after a render that took it away: on the language
 * switch if it had it, else on `fallback` (the main region, so that Tab
 * goes on into the page rather than from the top of the document again).
 */
function refocus(before, fallback) {
  if (!before || (document.activeElement && document.activeElement !== document.body)) return;
  const again = before === 'lang' ? app.querySelector('select[name=lang]') : null;
  (again || fallback)?.focus({ preventScroll: true });
}

async function show() {
  const count = ++renderCount;
  const before = focusBefore();
  document.documentElement.lang = lang();
  if (!me) {
    app.replaceChildren(
      login.render({
        onLoggedIn: async () => {
          me = await api.get('/auth/me');
          show();
        },
        rerender: show,
      }),
    );
    document.title = `${t('login.title')} · ${t('app.name')}`;
    refocus(before, app.querySelector('input[name=username]'));
    return;
  }
  const { path, query } = parseHash();
  const route = ROUTES.find(([pattern]) => pattern.test(path));
  const main = h('main', { id: 'main', tabindex: '-1' }, h('p', { class: 'loading' }, t('common.loading')));
  app.replaceChildren(
    h('a', { class: 'skip', href: '#main', onclick: (e) => { e.preventDefault(); main.focus(); } }, t('nav.skip')),
    header(),
    main,
  );
  refocus(before, main);
  let page;
  if (!route) {
    page = problemPage(new api.Problem(404, { code: 'route_not_found', detail: path }));
  } else {
    const [pattern, module] = route;
    document.title = `${t(module.title)} · ${t('app.name')}`;
    try {
      page = await module.render({ me, query, params: path.match(pattern).slice(1), navigate, refresh: show });
    } catch (error) {
      if (!(error instanceof api.Problem)) console.error(error);
      page = problemPage(error);
    }
  }
  if (count === renderCount) main.replaceChildren(page);
}

api.onLoggedOut(() => {
  me = null;
  show();
});
window.addEventListener('hashchange', show);

(async () => {
  try {
    if (await api.resume()) me = await api.get('/auth/me');
  } catch {
    me = null;
  }
  show();
})();
