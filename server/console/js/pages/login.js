// The login form. The session it opens is the cookie session of
// /api/v1/auth/console (docs/console.md).

import * as api from '../api.js';
import { LANGUAGES, lang, register, setLang, t } from '../i18n.js';
import { field, h, problemView, select } from '../ui.js';

register({
  'zh-CN': {
    'login.title': '登录',
    'login.heading': '登录 KAM Sync',
    'login.username': '用户名',
    'login.password': '密码',
    'login.submit': '登录',
    'login.busy': '正在登录…',
  },
  en: {
    'login.title': 'Log in',
    'login.heading': 'Log in to KAM Sync',
    'login.username': 'Username',
    'login.password': 'Password',
    'login.submit': 'Log in',
    'login.busy': 'Logging in…',
  },
});

export const title = 'login.title';

/** The login page; `onLoggedIn` runs once the session is open. */
export function render({ onLoggedIn, rerender }) {
  const username = h('input', { name: 'username', autocomplete: 'username', required: true, autofocus: true });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const status = h('div', { class: 'status', 'aria-live': 'assertive' });
  const submit = h('button', { type: 'submit', class: 'primary', id: 'login-submit' }, t('login.submit'));
  const languages = select('lang', LANGUAGES.map((code) => [code, code === 'zh-CN' ? '中文' : 'English']), lang());
  languages.addEventListener('change', () => {
    setLang(languages.value);
    rerender();
  });
  const form = h(
    'form',
    {
      class: 'login card',
      onsubmit: async (event) => {
        event.preventDefault();
        submit.disabled = true;
        submit.textContent = t('login.busy');
        status.replaceChildren();
        try {
          await api.login(username.value.trim(), password.value);
          await onLoggedIn();
        } catch (error) {
          status.replaceChildren(problemView(error));
          submit.disabled = false;
          submit.textContent = t('login.submit');
        }
      },
    },
    h('h1', null, t('login.heading')),
    field(t('login.username'), username),
    field(t('login.password'), password),
    status,
    submit,
    field(t('nav.language'), languages),
  );
  return h('main', { id: 'main', class: 'login-page' }, form);
}
