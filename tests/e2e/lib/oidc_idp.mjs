// A real OpenID Connect provider for the tests and the local demo: the
// certified `oidc-provider` package (v8, the last line supported on Node 20)
// on plain http on 127.0.0.1, configured like ProConnect (the State's
// federation for public agents: signed userinfo, `siret`, `acr` eidas1, PKCE
// required, RP-initiated logout) or like a plain Keycloak (groups claim).
// Everything the relying party sees (codes, tokens, signatures, errors) is
// oidc-provider's own; this file only supplies accounts, a login page, an
// automatic consent and test controls. docs/oidc-test-provider.md.
//
//   const idp = await startIdp({ profile: 'proconnect', clientId, clientSecret,
//                                redirectUris: [cb], postLogoutRedirectUris: [out] });
//   idp.issuer                 // http://127.0.0.1:PORT (discovery at /.well-known/openid-configuration)
//   idp.setAutoLogin('agent-2') // the authorization endpoint signs agent-2 in, no form (null: form)
//   await idp.rotateKeys()     // new signing keys (new kids) first, old ones still published
//   idp.backchannel            // the back-channel logouts sent: [{clientId, sub, sid, ok, error}]
//   await idp.stop()
//
// CLI (prints one JSON line on stdout once listening; SIGTERM/SIGINT stop it):
//   node tests/e2e/lib/oidc_idp.mjs --profile proconnect --port 9400 --client-id ID \
//     --client-secret SECRET --redirect-uri URI [--post-logout-redirect-uri URI]
//     [--backchannel-logout-uri URI] [--alg RS256|ES256] [--auto-login SUB] [--keys-file FILE]
//     [--quiet]
// Test controls (loopback only, this test provider only):
//   POST /_test/auto-login?sub=agent-2 (empty sub: back to the form)
//   POST /_test/rotate-keys            -> {"kids":[...]}
//   GET  /_test/accounts               -> the accounts
import http from 'node:http';
import crypto from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const DEFAULT_ACCOUNTS = [
  { sub: 'agent-1', email: 'marie.dupont@mairie-exemple.fr', given_name: 'Marie', usual_name: 'Dupont',
    siret: '21750001600019', uid: 'mdupont', groups: ['urbanisme'] },
  { sub: 'agent-2', email: 'jean.martin@mairie-exemple.fr', given_name: 'Jean', usual_name: 'Martin',
    siret: '21750001600019', uid: 'jmartin', groups: ['etat-civil', 'admins'] },
  { sub: 'agent-3', email: 'sophie.bernard@ville-seconde.fr', given_name: 'Sophie', usual_name: 'Bernard',
    siret: '21690123100011', uid: 'sbernard', groups: ['rh'] },
  // in two tenants: the SIRET of mairie-exemple, the email domain of ville-seconde
  { sub: 'agent-multi', email: 'claire.moreau@ville-seconde.fr', given_name: 'Claire', usual_name: 'Moreau',
    siret: '21750001600019', uid: 'cmoreau', groups: ['urbanisme', 'rh'] },
  // a valid SIRET (Luhn over SIRET and SIREN) that belongs to no tenant
  { sub: 'agent-inconnu', email: 'paul.petit@collectivite-inconnue.fr', given_name: 'Paul', usual_name: 'Petit',
    siret: '21971000100013', uid: 'ppetit', groups: [] },
];

const PROFILES = {
  proconnect: {
    scopes: ['openid', 'email', 'given_name', 'usual_name', 'siret', 'uid', 'idp_id'],
    claims: {
      openid: ['sub'], email: ['email'], given_name: ['given_name'], usual_name: ['usual_name'],
      siret: ['siret'], uid: ['uid'], idp_id: ['idp_id'],
    },
    acrValues: ['eidas1'],
    signedUserinfo: true,
    pkceRequired: true,
    conformIdTokenClaims: true, // like ProConnect: the person's claims come from userinfo
  },
  keycloak: {
    scopes: ['openid', 'email', 'profile', 'groups'],
    claims: {
      openid: ['sub'], email: ['email', 'email_verified'],
      profile: ['name', 'given_name', 'family_name', 'preferred_username'], groups: ['groups'],
    },
    acrValues: [],
    signedUserinfo: false,
    pkceRequired: false, // accepted, not required (Keycloak's default)
    conformIdTokenClaims: false, // like Keycloak: the claims are in the ID token too
  },
};

const IDP_ID = 'fia-test-libreair'; // ProConnect's idp_id: which identity provider the agent used

function accountClaims(a) {
  return {
    sub: a.sub, email: a.email, email_verified: true, given_name: a.given_name,
    usual_name: a.usual_name, family_name: a.usual_name, name: `${a.given_name} ${a.usual_name}`,
    preferred_username: a.uid || a.sub, siret: a.siret, uid: a.uid || a.sub, idp_id: IDP_ID,
    groups: a.groups || [],
  };
}

// Signing keys: an RSA one (RS256) and a P-256 one (ES256), each with its own kid.
function newKeys() {
  const stamp = `${Date.now().toString(36)}-${crypto.randomBytes(3).toString('hex')}`;
  const rsa = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return [
    { ...rsa, kid: `rsa-${stamp}`, alg: 'RS256', use: 'sig' },
    { ...ec, kid: `ec-${stamp}`, alg: 'ES256', use: 'sig' },
  ];
}

// oidc-provider's storage interface over a Map, one per provider and kept
// across key rotations (the package's own memory adapter is shared by every
// provider of the process).
function memoryAdapter() {
  const store = new Map();
  const now = () => Math.floor(Date.now() / 1000);
  const get = (k) => {
    const e = store.get(k);
    if (!e) return undefined;
    if (e.exp && e.exp < Date.now()) { store.delete(k); return undefined; }
    return e.v;
  };
  const set = (k, v, ttl) => store.set(k, { v, exp: ttl ? Date.now() + ttl * 1000 : 0 });
  const grantable = new Set(['AccessToken', 'AuthorizationCode', 'RefreshToken', 'DeviceCode',
    'BackchannelAuthenticationRequest']);
  return class MapAdapter {
    constructor(model) { this.model = model; }
    key(id) { return `${this.model}:${id}`; }
    async upsert(id, payload, expiresIn) {
      const key = this.key(id);
      if (this.model === 'Session') set(`sessionUid:${payload.uid}`, id, expiresIn);
      if (grantable.has(this.model) && payload.grantId) {
        const g = get(`grant:${payload.grantId}`) || [];
        g.push(key);
        set(`grant:${payload.grantId}`, g, expiresIn);
      }
      if (payload.userCode) set(`userCode:${payload.userCode}`, id, expiresIn);
      set(key, payload, expiresIn);
    }
    async find(id) { return get(this.key(id)); }
    async findByUid(uid) { const id = get(`sessionUid:${uid}`); return id && this.find(id); }
    async findByUserCode(code) { const id = get(`userCode:${code}`); return id && this.find(id); }
    async consume(id) { const p = get(this.key(id)); if (p) p.consumed = now(); }
    async destroy(id) { store.delete(this.key(id)); }
    async revokeByGrantId(grantId) {
      for (const k of get(`grant:${grantId}`) || []) store.delete(k);
      store.delete(`grant:${grantId}`);
    }
  };
}

const esc = (s) => String(s).replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function page(title, body) {
  return `<!doctype html>
<html lang="fr"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(title)} — fournisseur d'identité de test</title>
<style>body{font-family:system-ui,sans-serif;max-width:32rem;margin:2rem auto;padding:0 1rem;color:#161616}
label{display:block;font-weight:600;margin:1rem 0 .25rem}input{font-size:1rem;padding:.5rem;width:100%;box-sizing:border-box}
button{margin-top:1rem;font-size:1rem;padding:.5rem 1rem;background:#000091;color:#fff;border:0;cursor:pointer}
button:focus,input:focus{outline:3px solid #0a76f6;outline-offset:2px}.error{color:#ce0500;font-weight:600}
small{color:#3a3a3a}code{background:#eee;padding:0 .2rem}</style></head>
<body><main>${body}</main></body></html>`;
}

function loginPage({ uid, profile, accounts, error, client }) {
  const list = accounts.map((a) => `<li><code>${esc(a.email)}</code> (${esc(a.given_name)} ${esc(a.usual_name)}, SIRET ${esc(a.siret)})</li>`).join('');
  return page('Connexion', `<h1>Connexion</h1>
<p>Fournisseur d'identité de <strong>test</strong> (profil ${esc(profile)}) pour l'application <strong>${esc(client)}</strong>.</p>
${error ? `<p class="error" role="alert" id="login-error">${esc(error)}</p>` : ''}
<form method="post" action="/interaction/${esc(uid)}/login" autocomplete="off">
<label for="login">Adresse électronique ou identifiant</label>
<input id="login" name="login" type="text" required autofocus autocomplete="username"${error ? ' aria-invalid="true" aria-describedby="login-error"' : ''}>
<button type="submit">Se connecter</button>
</form>
<h2>Comptes de test</h2><ul>${list}</ul>`);
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

function findAccountIn(accounts, login) {
  const l = String(login || '').trim().toLowerCase();
  return accounts.find((a) => a.sub.toLowerCase() === l || String(a.email).toLowerCase() === l);
}

function acrRequested(params) {
  const want = new Set(String(params.acr_values || '').split(' ').filter(Boolean));
  try {
    const c = params.claims ? JSON.parse(params.claims) : {};
    for (const where of ['id_token', 'userinfo']) {
      const r = c?.[where]?.acr;
      if (r?.value) want.add(r.value);
      for (const v of r?.values || []) want.add(v);
      if (r === null || (r && !r.value && !r.values)) want.add('*');
    }
  } catch { /* oidc-provider itself refuses a malformed claims parameter */ }
  return want;
}

/**
 * Starts the provider. opts:
 *   profile: 'proconnect' (default) | 'keycloak'
 *   port: 0 (default, any free port) or a port; host: '127.0.0.1'
 *   clientId, clientSecret, redirectUris: [..] (or redirectUri), postLogoutRedirectUris: [..]
 *   backchannelLogoutUri: the client's back-channel logout URI (OpenID Connect Back-Channel
 *     Logout 1.0): when the person's session here ends (RP-initiated logout, or the logout
 *     form at /session/end), oidc-provider POSTs a logout token there, and the ID tokens
 *     carry `sid` (backchannel_logout_session_required, unless backchannelLogoutSessionRequired
 *     is false)
 *   clients: [{clientId, clientSecret, redirectUris, postLogoutRedirectUris,
 *     backchannelLogoutUri, backchannelLogoutSessionRequired}] more clients
 *     (for "token for another client" tests), same profile settings
 *   alg: 'RS256' (default) | 'ES256'  (ID token and, for proconnect, userinfo)
 *   accounts: [{sub, email, given_name, usual_name, siret, uid, groups}] (DEFAULT_ACCOUNTS)
 *   autoLogin: a sub: the authorization endpoint signs it in without a form
 *   keysFile: JSON file of the private JWKS, read if present, written otherwise and on rotation
 *   ttl: {AuthorizationCode, IdToken, AccessToken, Session} seconds, to test expiry
 * Returns { issuer, port, accounts, stop(), rotateKeys(opts), setAutoLogin(sub), kids(), provider() }.
 */
export async function startIdp(opts = {}) {
  const profileName = opts.profile || 'proconnect';
  const prof = PROFILES[profileName];
  if (!prof) throw new Error(`unknown profile ${profileName} (proconnect, keycloak)`);
  const alg = opts.alg || 'RS256';
  if (!['RS256', 'ES256'].includes(alg)) throw new Error(`alg ${alg}: RS256 or ES256`);
  if (profileName === 'keycloak' && alg !== 'RS256' && !opts.allowAnyAlg) {
    throw new Error('the keycloak profile signs with RS256');
  }
  const host = opts.host || '127.0.0.1';
  const accounts = (opts.accounts || DEFAULT_ACCOUNTS).map((a) => ({ ...a }));
  let autoLogin = opts.autoLogin || null;
  const internalToken = crypto.randomBytes(16).toString('hex');
  const Adapter = memoryAdapter();
  const cookieKeys = [crypto.randomBytes(32).toString('hex')];

  let keys;
  if (opts.keysFile && existsSync(opts.keysFile)) keys = JSON.parse(readFileSync(opts.keysFile, 'utf8')).keys;
  else keys = newKeys();
  const saveKeys = () => { if (opts.keysFile) writeFileSync(opts.keysFile, JSON.stringify({ keys }, null, 1), { mode: 0o600 }); };
  saveKeys();

  const clientDefs = [
    { clientId: opts.clientId, clientSecret: opts.clientSecret,
      redirectUris: opts.redirectUris || (opts.redirectUri ? [opts.redirectUri] : []),
      postLogoutRedirectUris: opts.postLogoutRedirectUris || (opts.postLogoutRedirectUri ? [opts.postLogoutRedirectUri] : []),
      backchannelLogoutUri: opts.backchannelLogoutUri,
      backchannelLogoutSessionRequired: opts.backchannelLogoutSessionRequired },
    ...(opts.clients || []),
  ];
  for (const c of clientDefs) {
    if (!c.clientId || !c.clientSecret || !c.redirectUris?.length) {
      throw new Error('clientId, clientSecret and redirectUris are required');
    }
  }
  const clients = clientDefs.map((c) => ({
    client_id: c.clientId,
    client_secret: c.clientSecret,
    redirect_uris: c.redirectUris,
    post_logout_redirect_uris: c.postLogoutRedirectUris || [],
    response_types: ['code'],
    grant_types: ['authorization_code'],
    // client_secret_post is accepted as well: oidc-provider takes either
    // client_secret_* method from a client registered with one of them
    token_endpoint_auth_method: 'client_secret_basic',
    id_token_signed_response_alg: alg,
    ...(prof.signedUserinfo ? { userinfo_signed_response_alg: alg } : {}),
    ...(c.backchannelLogoutUri ? {
      backchannel_logout_uri: c.backchannelLogoutUri,
      backchannel_logout_session_required: c.backchannelLogoutSessionRequired !== false,
    } : {}),
  }));
  const backchannel = []; // what oidc-provider sent, and how the client answered

  // oidc-provider prints its notices with console.info (stdout): keep stdout
  // for the CLI's JSON line
  const info = console.info;
  console.info = (...a) => console.error(...a);
  let mod;
  try {
    mod = await import('oidc-provider');
  } catch (err) {
    throw new Error(`oidc-provider is not installed (cd tests/e2e && npm ci): ${err.message}`);
  } finally {
    console.info = info;
  }
  const { default: Provider, interactionPolicy } = mod;

  let issuer; // set once the port is known
  let current; // the oidc-provider instance now serving (replaced on rotation)

  function makeProvider() {
    const ttl = {
      AccessToken: 3600, AuthorizationCode: 60, IdToken: 3600, Interaction: 3600,
      Session: 8 * 3600, Grant: 8 * 3600, RefreshToken: 8 * 3600, ...(opts.ttl || {}),
    };
    const configuration = {
      clients,
      adapter: Adapter,
      jwks: { keys },
      cookies: {
        keys: cookieKeys,
        // plain http on loopback: no Secure flag, and SameSite=Lax rather than
        // the default None (which browsers drop without Secure)
        long: { signed: true, httpOnly: true, sameSite: 'lax' },
        short: { signed: true, httpOnly: true, sameSite: 'lax' },
      },
      claims: prof.claims,
      scopes: prof.scopes,
      acrValues: prof.acrValues,
      conformIdTokenClaims: prof.conformIdTokenClaims,
      allowOmittingSingleRegisteredRedirectUri: false,
      responseTypes: ['code'],
      clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
      pkce: { methods: ['S256'], required: () => prof.pkceRequired },
      enabledJWA: {
        idTokenSigningAlgValues: ['RS256', 'ES256'],
        userinfoSigningAlgValues: ['RS256', 'ES256'],
      },
      features: {
        devInteractions: { enabled: false },
        claimsParameter: { enabled: true },
        jwtUserinfo: { enabled: prof.signedUserinfo },
        userinfo: { enabled: true },
        // the logout token is oidc-provider's own (sub, sid, events, jti, typ logout+jwt)
        backchannelLogout: { enabled: true },
        revocation: { enabled: true },
        pushedAuthorizationRequests: { enabled: false },
        rpInitiatedLogout: {
          enabled: true,
          // ProConnect signs out without asking: the confirmation form
          // submits itself (the button is there without JavaScript)
          async logoutSource(ctx, form) {
            ctx.body = page('Déconnexion', `<h1>Déconnexion</h1>${form.replace('</form>',
              '<input type="hidden" name="logout" value="yes"><button type="submit">Se déconnecter</button></form>')}
<script>document.getElementById('op.logoutForm').submit()</script>`);
          },
          async postLogoutSuccessSource(ctx) {
            ctx.body = page('Déconnecté', '<h1>Vous êtes déconnecté</h1>');
          },
        },
      },
      interactions: {
        policy: interactionPolicy.base(),
        url: (ctx, interaction) => `/interaction/${interaction.uid}`,
      },
      async findAccount(ctx, sub) {
        const a = accounts.find((x) => x.sub === sub);
        if (!a) return undefined;
        return { accountId: a.sub, async claims() { return accountClaims(a); } };
      },
      async renderError(ctx, out) {
        ctx.type = 'html';
        ctx.body = page('Erreur', `<h1>Erreur</h1><p role="alert"><code>${esc(out.error)}</code> ${esc(out.error_description || '')}</p>`);
      },
      clientBasedCORS: () => true,
      ttl,
    };
    const p = new Provider(issuer, configuration);
    p.on('server_error', (ctx, err) => console.error('oidc_idp: server_error', err));
    p.on('backchannel.success', (ctx, client, sub, sid) => backchannel.push({ clientId: client.clientId, sub, sid, ok: true }));
    p.on('backchannel.error', (ctx, err, client, sub, sid) => backchannel.push({ clientId: client.clientId, sub, sid, ok: false, error: err.message }));
    return { provider: p, handler: p.callback() };
  }

  // The login and consent steps (oidc-provider leaves the interactions to the host).
  async function interaction(req, res, url) {
    const p = current.provider;
    const m = url.pathname.match(/^\/interaction\/([^/]+)(\/login)?$/);
    if (!m) return false;
    let details;
    try {
      details = await p.interactionDetails(req, res);
    } catch (err) {
      res.writeHead(400, { 'Content-Type': 'text/html; charset=utf-8' });
      res.end(page('Erreur', `<h1>Session de connexion expirée</h1><p role="alert">${esc(err.message)}</p>`));
      return true;
    }
    const { prompt, params } = details;
    const finish = (result) => p.interactionFinished(req, res, result, { mergeWithLastSubmission: true });
    if (prompt.name === 'login') {
      let who = null;
      if (autoLogin && req.headers['x-oidc-idp-internal'] === internalToken) who = autoLogin;
      if (req.method === 'POST' && m[2]) who = new URLSearchParams(await readBody(req)).get('login');
      if (!who) {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(loginPage({ uid: details.uid, profile: profileName, accounts, client: params.client_id }));
        return true;
      }
      const a = findAccountIn(accounts, who);
      if (!a) {
        res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
        res.end(loginPage({ uid: details.uid, profile: profileName, accounts, client: params.client_id,
          error: `Compte inconnu : ${who}` }));
        return true;
      }
      const login = { accountId: a.sub, amr: ['pwd'] };
      const want = acrRequested(params);
      if (prof.acrValues.length && (want.has('eidas1') || want.has('*'))) login.acr = 'eidas1';
      await finish({ login });
      return true;
    }
    if (prompt.name === 'consent') { // granted without asking
      const d = prompt.details;
      const grant = details.grantId
        ? await p.Grant.find(details.grantId)
        : new p.Grant({ accountId: details.session.accountId, clientId: params.client_id });
      if (d.missingOIDCScope) grant.addOIDCScope(d.missingOIDCScope.join(' '));
      if (d.missingOIDCClaims) grant.addOIDCClaims(d.missingOIDCClaims);
      for (const [ind, sc] of Object.entries(d.missingResourceScopes || {})) grant.addResourceScope(ind, sc.join(' '));
      const grantId = await grant.save();
      await finish({ consent: { grantId } });
      return true;
    }
    res.writeHead(400, { 'Content-Type': 'text/plain' });
    res.end(`unsupported prompt ${prompt.name}`);
    return true;
  }

  // autoLogin: the provider plays the browser itself (its own cookie jar),
  // through oidc-provider's real redirects, and answers the caller with the
  // final redirect to the client; curl needs no cookie jar then.
  async function followInternally(req, res, url) {
    const body = ['GET', 'HEAD'].includes(req.method) ? undefined : await readBody(req);
    const jar = new Map();
    let next = new URL(url.pathname + url.search, issuer);
    let method = req.method === 'HEAD' ? 'GET' : req.method;
    let payload = body;
    let ctype = req.headers['content-type'];
    for (let hop = 0; hop < 12; hop++) {
      const headers = { 'x-oidc-idp-internal': internalToken };
      if (jar.size) headers.cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
      if (payload !== undefined) headers['content-type'] = ctype || 'application/x-www-form-urlencoded';
      const r = await fetch(next, { method, headers, body: payload, redirect: 'manual' });
      for (const sc of r.headers.getSetCookie()) {
        const [nv, ...attrs] = sc.split(';');
        const i = nv.indexOf('=');
        const name = nv.slice(0, i).trim();
        const value = nv.slice(i + 1).trim();
        const expired = attrs.some((a) => /^\s*expires=.*1970/i.test(a)) || value === '';
        if (expired) jar.delete(name); else jar.set(name, value);
      }
      const loc = r.headers.get('location');
      if (r.status >= 300 && r.status < 400 && loc) {
        const to = new URL(loc, next);
        if (to.origin !== new URL(issuer).origin || !to.pathname.startsWith('/')) {
          res.writeHead(303, { Location: to.href, 'Cache-Control': 'no-store' });
          res.end();
          return;
        }
        next = to; method = 'GET'; payload = undefined; ctype = undefined;
        continue;
      }
      const text = await r.text();
      const xsrf = text.match(/name="xsrf" value="([^"]+)"/);
      if (r.status === 200 && next.pathname === '/session/end' && xsrf) {
        next = new URL('/session/end/confirm', issuer); method = 'POST';
        payload = new URLSearchParams({ xsrf: xsrf[1], logout: 'yes' }).toString();
        ctype = 'application/x-www-form-urlencoded';
        continue;
      }
      res.writeHead(r.status, { 'Content-Type': r.headers.get('content-type') || 'text/html', 'Cache-Control': 'no-store' });
      res.end(text);
      return;
    }
    res.writeHead(500, { 'Content-Type': 'text/plain' });
    res.end('oidc_idp: too many redirects');
  }

  async function control(req, res, url) {
    const json = (code, obj) => { res.writeHead(code, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(obj)); };
    if (url.pathname === '/_test/accounts' && req.method === 'GET') return json(200, accounts);
    if (url.pathname === '/_test/auto-login' && req.method === 'POST') {
      const sub = url.searchParams.get('sub');
      if (sub && !findAccountIn(accounts, sub)) return json(404, { error: 'unknown account' });
      handle.setAutoLogin(sub || null);
      return json(200, { autoLogin });
    }
    if (url.pathname === '/_test/rotate-keys' && req.method === 'POST') {
      await handle.rotateKeys({ dropOld: url.searchParams.get('drop_old') === '1' });
      return json(200, { kids: handle.kids() });
    }
    return json(404, { error: 'not found' });
  }

  const server = http.createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const internal = req.headers['x-oidc-idp-internal'] === internalToken;
    const go = async () => {
      if (url.pathname.startsWith('/_test/')) return control(req, res, url);
      if (autoLogin && !internal && (url.pathname === '/auth' || url.pathname === '/session/end')) {
        return followInternally(req, res, url);
      }
      if (url.pathname.startsWith('/interaction/') && await interaction(req, res, url)) return undefined;
      return current.handler(req, res);
    };
    go().catch((err) => {
      console.error('oidc_idp:', err);
      if (!res.headersSent) { res.writeHead(500, { 'Content-Type': 'text/plain' }); res.end('internal error'); }
      else res.destroy();
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port || 0, host, () => { server.off('error', reject); resolve(); });
  });
  const port = server.address().port;
  issuer = `http://${host}:${port}`;
  current = makeProvider();

  const handle = {
    issuer,
    port,
    profile: profileName,
    alg,
    accounts,
    clientId: opts.clientId,
    /** The back-channel logouts sent so far: [{clientId, sub, sid, ok, error}]. */
    backchannel,
    /** Discovery document URL. */
    discovery: `${issuer}/.well-known/openid-configuration`,
    /** The kids now published, the signing ones (the first of each type) first. */
    kids: () => keys.map((k) => k.kid),
    /** The kid the ID tokens are signed with now. */
    signingKid: () => keys.find((k) => k.alg === alg).kid,
    setAutoLogin(sub) {
      if (sub && !findAccountIn(accounts, sub)) throw new Error(`unknown account ${sub}`);
      autoLogin = sub ? findAccountIn(accounts, sub).sub : null;
    },
    /**
     * Key rotation. oidc-provider reads its keys once, when it is built, so
     * this builds a new oidc-provider instance (same issuer, same port, same
     * storage and cookie keys: sessions, codes and grants survive) with a new
     * key of each type first (they sign from now on); the old keys stay in
     * the JWKS (tokens already issued still verify) unless dropOld.
     */
    async rotateKeys({ dropOld = false } = {}) {
      keys = dropOld ? newKeys() : [...newKeys(), ...keys];
      saveKeys();
      current = makeProvider();
      return handle.kids();
    },
    provider: () => current.provider,
    stop() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
  return handle;
}

function parseArgs(argv) {
  const o = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) throw new Error(`unexpected argument ${a}`);
    const k = a.slice(2);
    if (k === 'quiet') { o.quiet = true; continue; }
    if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
    o[k] = argv[++i];
  }
  return o;
}

async function main() {
  let a;
  try {
    a = parseArgs(process.argv.slice(2));
  } catch (err) {
    console.error(`oidc_idp: ${err.message}`);
    process.exit(2);
  }
  const idp = await startIdp({
    profile: a.profile || 'proconnect',
    port: a.port ? Number(a.port) : 0,
    host: a.host,
    clientId: a['client-id'],
    clientSecret: a['client-secret'],
    redirectUris: a['redirect-uri'] ? a['redirect-uri'].split(',') : [],
    postLogoutRedirectUris: a['post-logout-redirect-uri'] ? a['post-logout-redirect-uri'].split(',') : [],
    backchannelLogoutUri: a['backchannel-logout-uri'],
    alg: a.alg,
    autoLogin: a['auto-login'],
    keysFile: a['keys-file'],
  });
  process.stdout.write(`${JSON.stringify({
    issuer: idp.issuer, port: idp.port, profile: idp.profile, alg: idp.alg, client_id: idp.clientId,
    discovery: idp.discovery, accounts: idp.accounts.map((x) => x.sub),
  })}\n`);
  if (!a.quiet) {
    const lines = idp.accounts.map((x) => `  ${x.email.padEnd(40)} ${x.given_name} ${x.usual_name}, SIRET ${x.siret}${x.groups?.length ? `, groupes ${x.groups.join(',')}` : ''}`);
    console.error(`Fournisseur OpenID Connect de TEST (${idp.profile}, ${idp.alg}) : ${idp.issuer}
  découverte : ${idp.discovery}
  client : ${idp.clientId}
Comptes (saisir l'adresse ou le sub sur la page de connexion) :
${lines.join('\n')}
Ctrl-C pour arrêter.`);
  }
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await idp.stop();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((err) => {
    console.error(`oidc_idp: ${err.message}`);
    process.exit(1);
  });
}
