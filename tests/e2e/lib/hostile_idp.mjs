// !!! HOSTILE TEST DOUBLE — NOT AN IDENTITY PROVIDER !!!
//
// A deliberately malicious OpenID Connect "provider", used ONLY by the
// attack tests of the sign-in: it answers like a provider (discovery, JWKS,
// authorize, token, userinfo, end_session) but hands the relying party the
// forged or broken tokens a certified provider (oidc_idp.mjs) cannot be made
// to produce: `alg: none`, HS256 keyed with the client secret or with the
// public key, a key that is not in its JWKS, the wrong `iss`/`aud`/`nonce`,
// an expired token, an `azp` of another client, a tampered `state`, a
// userinfo JWT with a bad signature... The relying party must refuse every
// one of them. Mode "good" is the one well-formed answer, so that a test can
// show the relying party accepts this provider when nothing is wrong (and
// hence that each refusal is for the forged part, not for the provider).
//
// It checks nothing it is sent (any redirect_uri, any code, any secret) and
// must never be used for anything but these tests. node:http + node:crypto
// only, no library. docs/oidc-test-provider.md.
//
//   const h = await startHostileIdp({ port: 0, clientId, clientSecret });
//   h.setMode('alg_none');   // the next token responses carry an unsigned ID token
//   h.issuer, h.modes, h.requests (what the relying party sent), h.lastIdToken
//   h.logoutToken('nonce')   // a back-channel logout token, well-formed or forged (LOGOUT_KINDS)
//   await h.stop();
import http from 'node:http';
import crypto from 'node:crypto';

export const MODES = {
  good: 'a valid ID token and userinfo (the control case)',
  alg_none: 'ID token with alg "none" and no signature',
  hs256_client_secret: 'ID token HS256-signed with the client secret',
  hs256_public_key: 'ID token HS256-signed with the JWKS public key (PEM) as secret: algorithm confusion',
  unknown_kid: 'ID token RS256-signed by a key that is not in the JWKS (its own kid)',
  bad_signature: 'ID token RS256-signed by another key under the kid of the JWKS key',
  wrong_iss: 'ID token whose iss is another issuer',
  wrong_aud: 'ID token for another client (aud)',
  azp_other_client: 'ID token with aud [client, other] and azp the other client',
  expired: 'ID token expired an hour ago',
  wrong_nonce: 'ID token with a nonce other than the one sent',
  missing_nonce: 'ID token without nonce',
  missing_acr: 'ID token without acr although acr_values asked for one',
  wrong_state: 'the authorization response carries a state other than the one sent',
  wrong_iss_param: 'the authorization response carries an iss parameter (RFC 9207) of another issuer',
  userinfo_bad_signature: 'userinfo JWT whose signature does not verify',
  userinfo_alg_none: 'userinfo JWT with alg "none"',
  userinfo_wrong_sub: 'userinfo JWT for another subject than the ID token',
  discovery_wrong_issuer: 'discovery document whose issuer is not the URL it was fetched from',
};

// Back-channel logout tokens (OpenID Connect Back-Channel Logout 1.0), to
// POST to the relying party's /auth/backchannel-logout/<id> by hand.
export const LOGOUT_KINDS = {
  good: 'a valid logout token: sub, sid, jti, events, iat, signed with the JWKS key',
  sid_only: 'a valid logout token naming only the provider session (sid), no sub',
  nonce: 'a logout token with a nonce (an ID token is not a logout token)',
  no_events: 'a logout token without events',
  events_not_object: 'events whose back-channel logout member is a string, not an object',
  wrong_aud: 'a logout token for another client (aud)',
  wrong_iss: 'a logout token from another issuer',
  old_iat: 'a logout token issued an hour ago',
  no_jti: 'a logout token without jti',
  no_sub_no_sid: 'a logout token that names nobody: neither sub nor sid',
  alg_none: 'a logout token with alg "none" and no signature',
  hs256_client_secret: 'a logout token HS256-signed with the client secret',
  bad_signature: 'a logout token signed by another key under the kid of the JWKS key',
  id_token: 'an ID token (nonce, no events) posted as a logout token',
};
const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';

const b64u = (b) => Buffer.from(b).toString('base64url');
const now = () => Math.floor(Date.now() / 1000);

function sign(header, payload, { key, hmac } = {}) {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  let sig = '';
  if (header.alg === 'RS256') sig = crypto.sign('sha256', Buffer.from(input), key).toString('base64url');
  else if (header.alg === 'HS256') sig = crypto.createHmac('sha256', hmac).update(input).digest('base64url');
  return `${input}.${sig}`;
}

async function readBody(req) {
  const chunks = [];
  for await (const c of req) chunks.push(c);
  return Buffer.concat(chunks).toString('utf8');
}

/**
 * opts: { port = 0, host = '127.0.0.1', clientId, clientSecret,
 *         claims: the person's claims (default agent-1 of oidc_idp.mjs, ProConnect style) }
 * Returns { issuer, port, modes, setMode(mode), mode(), requests, lastIdToken, lastUserinfo,
 *           jwks, stop() }.
 */
export async function startHostileIdp(opts = {}) {
  const { clientId, clientSecret } = opts;
  if (!clientId || !clientSecret) throw new Error('clientId and clientSecret are required');
  const host = opts.host || '127.0.0.1';
  const claims = opts.claims || {
    sub: 'agent-1', email: 'marie.dupont@mairie-exemple.fr', given_name: 'Marie',
    usual_name: 'Dupont', siret: '21750001600019', uid: 'mdupont', idp_id: 'hostile',
  };
  const good = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const rogue = crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const goodKid = 'hostile-published';
  const jwks = { keys: [{ ...good.publicKey.export({ format: 'jwk' }), kid: goodKid, alg: 'RS256', use: 'sig' }] };
  const publicPem = good.publicKey.export({ type: 'spki', format: 'pem' });

  let mode = 'good';
  const codes = new Map(); // code -> the authorization request's parameters
  const tokens = new Map(); // access token -> the authorization request's parameters
  const state = { requests: [], lastIdToken: null, lastUserinfo: null, lastSid: null };
  let issuer;

  function idToken(auth) {
    const t = now();
    const p = { iss: issuer, sub: claims.sub, aud: clientId, iat: t, exp: t + 300, auth_time: t,
      sid: auth.sid };
    if (auth.nonce !== undefined) p.nonce = auth.nonce;
    if (String(auth.acr_values || '').split(' ').includes('eidas1')) p.acr = 'eidas1';
    let header = { alg: 'RS256', typ: 'JWT', kid: goodKid };
    let keys = { key: good.privateKey };
    switch (mode) {
      case 'alg_none': header = { alg: 'none', typ: 'JWT' }; break;
      case 'hs256_client_secret': header = { alg: 'HS256', typ: 'JWT', kid: goodKid }; keys = { hmac: clientSecret }; break;
      case 'hs256_public_key': header = { alg: 'HS256', typ: 'JWT', kid: goodKid }; keys = { hmac: publicPem }; break;
      case 'unknown_kid': header = { alg: 'RS256', typ: 'JWT', kid: 'not-in-jwks' }; keys = { key: rogue.privateKey }; break;
      case 'bad_signature': keys = { key: rogue.privateKey }; break;
      case 'wrong_iss': p.iss = 'https://idp.attaquant.example'; break;
      case 'wrong_aud': p.aud = `${clientId}-other`; break;
      case 'azp_other_client': p.aud = [clientId, 'other-client']; p.azp = 'other-client'; break;
      case 'expired': p.iat = t - 7200; p.auth_time = t - 7200; p.exp = t - 3600; break;
      case 'wrong_nonce': p.nonce = `${auth.nonce || ''}x-forged`; break;
      case 'missing_nonce': delete p.nonce; break;
      case 'missing_acr': delete p.acr; break;
      default:
    }
    return sign(header, p, keys);
  }

  function userinfo(auth) {
    const p = { ...claims, iss: issuer, aud: clientId, iat: now() };
    if (mode === 'userinfo_wrong_sub') p.sub = `${claims.sub}-someone-else`;
    if (mode === 'userinfo_alg_none') return sign({ alg: 'none', typ: 'JWT' }, p);
    if (mode === 'userinfo_bad_signature') {
      const jwt = sign({ alg: 'RS256', typ: 'JWT', kid: goodKid }, p, { key: good.privateKey });
      // the same claims, one changed after signing: the signature no longer matches
      const [h, , s] = jwt.split('.');
      return `${h}.${b64u(JSON.stringify({ ...p, siret: '21971000100013' }))}.${s}`;
    }
    void auth;
    return sign({ alg: 'RS256', typ: 'JWT', kid: goodKid }, p, { key: good.privateKey });
  }

  const send = (res, code, type, body, extra = {}) => {
    res.writeHead(code, { 'Content-Type': type, 'Cache-Control': 'no-store', ...extra });
    res.end(body);
  };

  const server = http.createServer((req, res) => {
    (async () => {
      const url = new URL(req.url, issuer);
      const body = ['GET', 'HEAD'].includes(req.method) ? '' : await readBody(req);
      state.requests.push({ method: req.method, path: url.pathname, query: Object.fromEntries(url.searchParams),
        body, authorization: req.headers.authorization || null, mode });
      switch (url.pathname) {
        case '/.well-known/openid-configuration':
          return send(res, 200, 'application/json', JSON.stringify({
            issuer: mode === 'discovery_wrong_issuer' ? 'https://idp.attaquant.example' : issuer,
            authorization_endpoint: `${issuer}/authorize`,
            token_endpoint: `${issuer}/token`,
            userinfo_endpoint: `${issuer}/userinfo`,
            jwks_uri: `${issuer}/jwks`,
            end_session_endpoint: `${issuer}/end_session`,
            response_types_supported: ['code'],
            subject_types_supported: ['public'],
            id_token_signing_alg_values_supported: ['RS256'],
            userinfo_signing_alg_values_supported: ['RS256'],
            token_endpoint_auth_methods_supported: ['client_secret_post', 'client_secret_basic'],
            code_challenge_methods_supported: ['S256'],
            scopes_supported: ['openid', 'email', 'given_name', 'usual_name', 'siret', 'uid'],
            acr_values_supported: ['eidas1'],
            authorization_response_iss_parameter_supported: true,
          }));
        case '/jwks':
          return send(res, 200, 'application/json', JSON.stringify(jwks));
        case '/authorize': {
          const q = Object.fromEntries(url.searchParams);
          if (!q.redirect_uri) return send(res, 400, 'text/plain', 'redirect_uri missing');
          const code = crypto.randomBytes(16).toString('base64url');
          // one provider session per authorization: its sid goes into the ID token
          codes.set(code, { ...q, sid: crypto.randomBytes(9).toString('base64url') });
          const to = new URL(q.redirect_uri);
          to.searchParams.set('code', code);
          if (q.state !== undefined) to.searchParams.set('state', mode === 'wrong_state' ? `${q.state}-forged` : q.state);
          to.searchParams.set('iss', mode === 'wrong_iss_param' ? 'https://idp.attaquant.example' : issuer);
          return send(res, 302, 'text/plain', '', { Location: to.href });
        }
        case '/token': {
          const p = new URLSearchParams(body);
          const auth = codes.get(p.get('code')) || {};
          const at = crypto.randomBytes(16).toString('base64url');
          tokens.set(at, auth);
          state.lastIdToken = idToken(auth);
          state.lastSid = auth.sid || null;
          return send(res, 200, 'application/json', JSON.stringify({
            access_token: at, token_type: 'Bearer', expires_in: 300, id_token: state.lastIdToken,
            scope: auth.scope || 'openid',
          }));
        }
        case '/userinfo': {
          const m = /^Bearer (.+)$/.exec(req.headers.authorization || '');
          const auth = m && tokens.get(m[1]);
          if (!auth) return send(res, 401, 'application/json', '{"error":"invalid_token"}', { 'WWW-Authenticate': 'Bearer error="invalid_token"' });
          state.lastUserinfo = userinfo(auth);
          return send(res, 200, 'application/jwt', state.lastUserinfo);
        }
        case '/end_session': {
          const to = url.searchParams.get('post_logout_redirect_uri');
          if (!to) return send(res, 200, 'text/plain', 'signed out');
          const u = new URL(to);
          if (url.searchParams.has('state')) u.searchParams.set('state', url.searchParams.get('state'));
          return send(res, 302, 'text/plain', '', { Location: u.href });
        }
        default:
          return send(res, 404, 'text/plain', 'not found');
      }
    })().catch((err) => {
      console.error('hostile_idp:', err);
      if (!res.headersSent) send(res, 500, 'text/plain', 'error');
    });
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port || 0, host, () => { server.off('error', reject); resolve(); });
  });
  const port = server.address().port;
  issuer = `http://${host}:${port}`;

  return {
    issuer,
    port,
    modes: Object.keys(MODES),
    jwks,
    get requests() { return state.requests; },
    get lastIdToken() { return state.lastIdToken; },
    get lastUserinfo() { return state.lastUserinfo; },
    /** The sid of the last ID token issued (its provider session). */
    get lastSid() { return state.lastSid; },
    logoutKinds: Object.keys(LOGOUT_KINDS),
    /**
     * A back-channel logout token of kind (LOGOUT_KINDS); opts: sub (default the
     * person's), sid (default the last ID token's), jti (default a fresh one: pass
     * the same jti twice, or post the same token twice, to replay).
     */
    logoutToken(kind = 'good', { sub = claims.sub, sid = state.lastSid, jti } = {}) {
      if (!(kind in LOGOUT_KINDS)) throw new Error(`unknown logout token ${kind}: ${Object.keys(LOGOUT_KINDS).join(', ')}`);
      const t = now();
      const p = { iss: issuer, aud: clientId, iat: t, exp: t + 120,
        jti: jti || crypto.randomBytes(12).toString('base64url'), events: { [LOGOUT_EVENT]: {} } };
      if (sub) p.sub = sub;
      if (sid) p.sid = sid;
      let header = { alg: 'RS256', typ: 'logout+jwt', kid: goodKid };
      let keys = { key: good.privateKey };
      switch (kind) {
        case 'sid_only': delete p.sub; break;
        case 'nonce': p.nonce = 'n-forged'; break;
        case 'no_events': delete p.events; break;
        case 'events_not_object': p.events = { [LOGOUT_EVENT]: 'logout' }; break;
        case 'wrong_aud': p.aud = `${clientId}-other`; break;
        case 'wrong_iss': p.iss = 'https://idp.attaquant.example'; break;
        case 'old_iat': p.iat = t - 3600; p.exp = t + 60; break;
        case 'no_jti': delete p.jti; break;
        case 'no_sub_no_sid': delete p.sub; delete p.sid; break;
        case 'alg_none': header = { alg: 'none', typ: 'logout+jwt' }; break;
        case 'hs256_client_secret': header = { alg: 'HS256', typ: 'logout+jwt', kid: goodKid }; keys = { hmac: clientSecret }; break;
        case 'bad_signature': keys = { key: rogue.privateKey }; break;
        case 'id_token': return idToken({ nonce: 'n-1', sid: p.sid });
        default:
      }
      return sign(header, p, keys);
    },
    mode: () => mode,
    setMode(m) {
      if (!(m in MODES)) throw new Error(`unknown mode ${m}: ${Object.keys(MODES).join(', ')}`);
      mode = m;
    },
    stop() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
