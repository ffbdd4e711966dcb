// The frame both pages share: the top bar (who is signed in, navigation,
// language, sign-out) and the sign-in page: one button per identity
// provider (OpenID Connect: ProConnect, the organisation's own), the key
// form below it, and the choice of an organisation for a person who belongs
// to several. A key is kept in sessionStorage: it lives as long as the tab
// and is sent only to this server. A person's sign-in session is a cookie
// the page never sees (HttpOnly); lib.js adds its CSRF token.
import { h, t, clear, append, id, setKey, whoami, providers, chooseTenant, endSession, langButton,
  applyI18n, ApiError, errText } from './lib.js';

// page: 'console' or 'chat'. nav(me): [{href, label, current}] for the bar.
// render(me, main): draws the page once signed in. accept(me): null, or why
// this page is not for me (a string or a node).
export function startShell({ page, nav, render, accept }) {
  const top = document.getElementById('top');
  const main = document.getElementById('main');
  let me = null; // signed in and accepted: the page is drawn
  let person = null; // a session that cannot draw the page: not chosen yet, or refused
  let idps = []; // the identity providers (GET /auth/providers)
  let typed = ''; // the key being typed in the sign-in form

  const redraw = () => {
    const langFocused = document.activeElement?.classList.contains('lang');
    applyI18n();
    document.title = `LibreAIr — ${page === 'chat' ? t('app.chat') : t('app.console')}`;
    drawTop();
    if (me) render(me, main);
    else if (person?.choose) drawChooser();
    else if (person) drawRefused();
    else drawSignin();
    // the switch was pressed from the keyboard: the focus stays on it
    if (langFocused) top.querySelector('button.lang')?.focus();
  };

  // Who is signed in, as the top bar says it.
  const whoText = (who) => {
    if (who.session && who.choose) return who.name || who.email;
    if (who.session) {
      return t('signin.person', { name: who.name || who.email, tenant: who.tenant_name || who.tenant,
        role: t(`role.${who.role}`) });
    }
    return who.role === 'operator' ? t('signin.asoperator') : t('signin.as', { tenant: who.tenant, role: who.role });
  };

  const drawTop = () => {
    clear(top);
    const who = me || person;
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
        who ? h('span', { class: 'who', text: whoText(who) }) : null,
        langButton(redraw),
        who ? h('button', { type: 'button', class: 'secondary', text: t('app.signout'),
          onclick: () => signOut(who, false) }) : null,
        who?.session ? h('button', { type: 'button', class: 'secondary', text: t('signin.everywhere'),
          onclick: () => signOut(who, true) }) : null)]);
  };

  // A key is forgotten; a session ends at the server, then at the identity
  // provider when it offers that (RP-initiated logout), else the page loads
  // again, signed out.
  const signOut = async (who, everywhere) => {
    if (!who.session) {
      setKey(null);
      me = null;
      redraw();
      return;
    }
    let url = null;
    try {
      url = await endSession(everywhere);
    } catch (e) {
      // 401: it had ended already (the cookie goes all the same)
      if (!(e instanceof ApiError && e.status === 401)) {
        main.prepend(h('p', { class: 'error', role: 'alert', text: errText(e) }));
        return;
      }
    }
    if (url) location.assign(url);
    else location.reload();
  };

  // Who is signed in now decides what is drawn.
  const enter = async () => {
    const who = await whoami();
    me = null;
    person = null;
    if (who?.choose) person = who;
    else if (who && !accept(who)) me = who;
    else if (who?.session) person = who; // refused by this page: it says why
    return who;
  };

  const loginUrl = (p) => {
    const next = page === 'chat' ? '/chat' : `/console${location.hash}`;
    return `/auth/login?provider=${encodeURIComponent(p.id)}&next=${encodeURIComponent(next)}`;
  };

  const drawSignin = (message) => {
    clear(main);
    const inputId = id('key');
    const errId = id('key-err');
    const titleId = id('signin');
    const err = h('p', { id: errId, class: 'field-error', role: 'alert' });
    // what was typed survives a language switch (the form is drawn again)
    const input = h('input', { id: inputId, type: 'password', autocomplete: 'off', spellcheck: 'false',
      required: true, 'aria-describedby': errId, value: typed,
      oninput: () => { typed = input.value; } });
    const form = h('form', { novalidate: true, onsubmit: async (e) => {
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
    idps.length ? h('h2', { text: t('signin.withkey') }) : null,
    h('p', { text: t(page === 'console' ? 'signin.intro.console' : 'signin.intro') }),
    h('label', { for: inputId, text: t('signin.key') }),
    input, err,
    h('button', { type: 'submit', class: idps.length ? 'secondary' : 'primary', text: t('signin.submit') }));
    const card = h('section', { class: 'card signin', 'aria-labelledby': titleId },
      h('h1', { id: titleId, text: t('signin.title') }),
      idps.length ? [
        h('p', { text: t(page === 'console' ? 'signin.oidc.intro.console' : 'signin.oidc.intro') }),
        h('ul', { class: 'providers' }, idps.map((p) => h('li', {},
          h('a', { class: 'button primary', href: loginUrl(p), text: t('signin.with', { name: p.name || p.id }) })))),
      ] : null,
      form);
    main.append(card);
    if (message) err.textContent = message;
    (card.querySelector('ul.providers a') || input).focus();
  };

  // A person of several organisations chooses the one to work in.
  const drawChooser = () => {
    clear(main);
    const titleId = id('choose');
    const err = h('p', { class: 'field-error', role: 'alert' });
    const choose = async (tenant) => {
      err.textContent = '';
      try {
        await chooseTenant(tenant);
        await enter();
        redraw();
        main.focus();
      } catch (ex) {
        err.textContent = ex instanceof ApiError ? errText(ex) : String(ex);
      }
    };
    const list = person.tenants || [];
    main.append(h('section', { class: 'card signin', 'aria-labelledby': titleId },
      h('h1', { id: titleId, tabindex: '-1', text: t('choose.title') }),
      h('p', { text: t('choose.intro', { name: person.name || person.email }) }),
      list.length
        ? h('ul', { class: 'choices' }, list.map((x) => h('li', {},
          h('button', { type: 'button', class: 'secondary', onclick: () => choose(x.tenant) },
            h('span', { class: 'choice-name', text: x.name || x.tenant }), ' ',
            h('span', { class: 'choice-role', text: t('choose.role', { role: t(`role.${x.role}`) }) })))))
        : h('p', { text: t('choose.none') }),
      err));
    (main.querySelector('ul.choices button') || main.querySelector('h1')).focus();
  };

  // A person whose role does not open this page (a user on the console).
  const drawRefused = () => {
    clear(main);
    const titleId = id('refused');
    main.append(h('section', { class: 'card signin', 'aria-labelledby': titleId },
      h('h1', { id: titleId, text: t('signin.title') }),
      h('p', {}, accept(person))));
  };

  (async () => {
    try {
      [idps] = await Promise.all([providers(), enter()]);
    } catch {
      me = null;
      person = null;
    }
    redraw();
  })();
  window.addEventListener('hashchange', () => { if (me) redraw(); });
  return { redraw };
}
