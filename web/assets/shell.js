// The frame both pages share: the top bar (name, navigation, language,
// sign-out) and the sign-in form. The key is kept in sessionStorage: it
// lives as long as the tab and is sent only to this server.
import { h, t, clear, append, id, getKey, setKey, whoami, langButton, applyI18n, ApiError, errText } from './lib.js';

// page: 'console' or 'chat'. nav(me): [{href, label, current}] for the bar.
// render(me, main): draws the page once signed in.
export function startShell({ page, nav, render, accept }) {
  const top = document.getElementById('top');
  const main = document.getElementById('main');
  let me = null;
  let typed = ''; // the key being typed in the sign-in form

  const redraw = () => {
    const langFocused = document.activeElement?.classList.contains('lang');
    applyI18n();
    document.title = `LibreAIr — ${page === 'chat' ? t('app.chat') : t('app.console')}`;
    drawTop();
    if (me) render(me, main);
    else drawSignin();
    // the switch was pressed from the keyboard: the focus stays on it
    if (langFocused) top.querySelector('button.lang')?.focus();
  };

  const drawTop = () => {
    clear(top);
    const links = me ? nav(me) : [];
    // lib's append, not the DOM's: Element.append(null) writes the word
    // "null" (there is no navigation before signing in)
    append(top, [
      h('a', { class: 'brand', href: page === 'chat' ? '/chat' : '/' },
        h('img', { src: '/assets/logo.svg', alt: '', width: 28, height: 28 }), 'LibreAIr'),
      links.length ? h('nav', { 'aria-label': t('app.nav') },
        h('ul', {}, links.map((l) => h('li', {}, h('a', { href: l.href, 'aria-current': l.current ? 'page' : null,
          text: l.label }))))) : null,
      h('div', { class: 'top-right' },
        me ? h('span', { class: 'who', text: me.role === 'operator' ? t('signin.asoperator')
          : t('signin.as', { tenant: me.tenant, role: me.role }) }) : null,
        langButton(redraw),
        me ? h('button', { type: 'button', class: 'secondary', text: t('app.signout'), onclick: () => {
          setKey(null);
          me = null;
          redraw();
        } }) : null)]);
  };

  const drawSignin = (message) => {
    clear(main);
    const inputId = id('key');
    const errId = id('key-err');
    const err = h('p', { id: errId, class: 'field-error', role: 'alert' });
    // what was typed survives a language switch (the form is drawn again)
    const input = h('input', { id: inputId, type: 'password', autocomplete: 'off', spellcheck: 'false',
      required: true, 'aria-describedby': errId, value: typed,
      oninput: () => { typed = input.value; } });
    const form = h('form', { class: 'card signin', novalidate: true, onsubmit: async (e) => {
      e.preventDefault();
      const k = input.value.trim();
      err.textContent = '';
      input.removeAttribute('aria-invalid');
      if (!k) {
        err.textContent = t('signin.empty');
        input.setAttribute('aria-invalid', 'true');
        input.focus();
        return;
      }
      setKey(k);
      try {
        const who = await whoami();
        const refusal = !who ? t('signin.invalid') : accept(who);
        if (refusal) {
          setKey(null);
          err.textContent = '';
          err.append(refusal);
          input.setAttribute('aria-invalid', 'true');
          input.focus();
          return;
        }
        me = who;
        typed = '';
        redraw();
        main.focus();
      } catch (ex) {
        setKey(null);
        err.textContent = ex instanceof ApiError ? errText(ex) : String(ex);
      }
    } },
    h('h1', { text: t('signin.title') }),
    h('p', { text: t(page === 'console' ? 'signin.intro.console' : 'signin.intro') }),
    h('label', { for: inputId, text: t('signin.key') }),
    input, err,
    h('button', { type: 'submit', class: 'primary', text: t('signin.submit') }));
    main.append(form);
    if (message) err.textContent = message;
    input.focus();
  };

  (async () => {
    try {
      me = getKey() ? await whoami() : null;
      if (me && accept(me)) me = null;
    } catch {
      me = null;
    }
    redraw();
  })();
  window.addEventListener('hashchange', () => { if (me) redraw(); });
  return { redraw };
}
