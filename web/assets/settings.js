// The tenant's settings page (#settings): today one choice, whether this
// organisation's questions may go to the inference servers of the operator's
// "remote" zone with their personal data replaced by markers, or never
// (GET/PATCH /api/v1/settings {"remote_inference": "masked"|"forbidden"}).
// Admin keys change it, after a confirmation; editor keys read it. The remote
// servers the operator declared come from GET /api/v1/sovereignty, so that
// the choice is about something concrete.
import { h, t, clear, id, api, confirmDialog, statusLine, errorBox, errText } from './lib.js';

const VALUES = ['masked', 'forbidden'];

function currentState(value) {
  return h('p', { class: 'current-state', 'data-value': value },
    `${t('st.current')} `, h('strong', { text: t(`st.state.${value}`) }));
}

function remoteServers(sov) {
  const far = (sov.outbound || []).filter((d) => d.zone === 'remote');
  if (!far.length) return h('p', { class: 'hint', text: t('st.remote.none') });
  return h('div', {},
    h('p', { text: t('st.remote.some', { n: far.length }) }),
    h('ul', { class: 'remote-list' }, far.map((d) => h('li', {},
      h('code', { text: d.url }), ` — ${t('st.remote.model', { model: d.model })}`))));
}

export async function viewSettings(me, main, token, alive) {
  const admin = me.role === 'admin';
  const box = h('div', {}, h('p', { class: 'hint', text: t('app.loading') }));
  const servers = h('div', {}, h('p', { class: 'hint', text: t('app.loading') }));
  const root = h('div', { class: 'settings-page' },
    h('h1', { text: t('st.title') }),
    h('section', { class: 'card', 'aria-labelledby': 'st-remote-h' },
      h('h2', { id: 'st-remote-h', text: t('st.remote.title') }),
      h('p', { text: t('st.remote.intro') }),
      h('p', { text: t('st.remote.markers') }),
      box),
    h('section', { class: 'card', 'aria-labelledby': 'st-servers-h' },
      h('h2', { id: 'st-servers-h', text: t('st.servers.title') }), servers));
  main.append(root);

  const [cur, sov] = await Promise.allSettled([api('GET', '/api/v1/settings'), api('GET', '/api/v1/sovereignty')]);
  if (!alive(root)) return;
  clear(servers).append(sov.status === 'fulfilled' ? remoteServers(sov.value) : errorBox(sov.reason));
  clear(box);
  if (cur.status !== 'fulfilled') {
    box.append(errorBox(cur.reason));
    return;
  }
  let value = VALUES.includes(cur.value.remote_inference) ? cur.value.remote_inference : 'masked';
  const stateBox = h('div', {}, currentState(value));
  box.append(stateBox);

  if (!admin) {
    box.append(h('p', { class: 'readonly', text: t('st.readonly') }),
      h('p', { text: t('st.choices') }),
      h('dl', { class: 'choices-read' }, VALUES.map((v) => [
        h('dt', { text: t(`st.opt.${v}`) }), h('dd', { text: t(`st.opt.${v}.help`) })])));
    return;
  }

  const general = statusLine();
  const name = id('remote');
  const radios = {};
  const choices = VALUES.map((v) => {
    const inputId = id(`remote-${v}`);
    const helpId = id('help');
    radios[v] = h('input', { type: 'radio', name, id: inputId, value: v, checked: v === value,
      'aria-describedby': helpId });
    return h('div', { class: 'choice' }, radios[v],
      h('label', { for: inputId, text: t(`st.opt.${v}`) }),
      h('p', { id: helpId, class: 'help', text: t(`st.opt.${v}.help`) }));
  });
  const chosen = () => VALUES.find((v) => radios[v].checked) || value;
  const form = h('form', { class: 'settings-form', novalidate: true, onsubmit: async (e) => {
    e.preventDefault();
    general.textContent = '';
    delete general.dataset.kind;
    const want = chosen();
    if (want === value) {
      general.textContent = t('st.unchanged');
      general.dataset.kind = 'info';
      return;
    }
    if (!(await confirmDialog(t(`st.confirm.${want}`)))) {
      radios[value].checked = true;
      radios[value].focus();
      return;
    }
    try {
      const r = await api('PATCH', '/api/v1/settings', { remote_inference: want });
      value = VALUES.includes(r.remote_inference) ? r.remote_inference : want;
      radios[value].checked = true;
      clear(stateBox).append(currentState(value));
      general.textContent = t(`st.saved.${value}`);
      general.dataset.kind = 'ok';
    } catch (ex) {
      general.textContent = errText(ex);
      general.dataset.kind = 'error';
    }
  } },
  h('fieldset', {}, h('legend', { text: t('st.question', { tenant: me.tenant }) }), choices),
  h('button', { type: 'submit', class: 'primary', text: t('st.save') }),
  general);
  box.append(form);
}
