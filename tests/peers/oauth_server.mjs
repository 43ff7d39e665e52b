// An OAuth authorization server for the tests: oauth2-mock-server, made strict where a test needs it.
//
//   node oauth_server.mjs PORT TTL CLIENTS LOG [LIFE]
//
// TTL: the expires_in announced; LIFE (default TTL): the seconds each token really lives (its exp). CLIENTS: JSON {"client_id": "secret", ...};
// any other client, or a wrong secret, gets 401 invalid_client. Refresh tokens: JSON {"refresh:<token>": ...}
// entries in CLIENTS name the refresh tokens accepted. LOG: one JSON line per token request.
import crypto from 'node:crypto';
import fs from 'node:fs';

const where = process.env.OAUTH2_MOCK_SERVER ?? new URL('../../.peers/node/node_modules/oauth2-mock-server/dist/index.mjs', import.meta.url).href;
const { OAuth2Server } = await import(where);

const [port, ttl, clientsJson, logPath, lifeArg] = process.argv.slice(2);
const clients = JSON.parse(clientsJson);
const seconds = Number(ttl);
const life = Number(lifeArg ?? ttl);
const server = new OAuth2Server();
await server.issuer.keys.generate('RS256');
server.issuer.url = `http://127.0.0.1:${port}`;

// private_key_jwt (RFC 7523): the assertion's signature checked with the client's public key
// ("jwt:<client_id>" in CLIENTS), its aud the token endpoint, its exp ahead.
function assertion(req) {
  const [head, body, signature] = String(req.body.client_assertion).split('.');
  const claims = JSON.parse(Buffer.from(body, 'base64url').toString());
  const publicKey = clients[`jwt:${claims.iss}`];
  const header = JSON.parse(Buffer.from(head, 'base64url').toString());
  const verified = publicKey !== undefined && header.alg === 'RS256' && crypto.verify(
    'RSA-SHA256', Buffer.from(`${head}.${body}`), publicKey, Buffer.from(signature, 'base64url'));
  const fresh = claims.exp > Date.now() / 1000 && claims.aud === `${server.issuer.url}/token` && claims.sub === claims.iss;
  return { id: claims.iss, ok: Boolean(verified && fresh), method: 'private_key_jwt' };
}

function caller(req) {
  if (req.body.client_assertion !== undefined) return assertion(req);
  const basic = /^Basic (.+)$/i.exec(req.headers.authorization || '');
  if (basic) {
    const [id, secret] = Buffer.from(basic[1], 'base64').toString().split(':').map(decodeURIComponent);
    return { id, secret, method: 'basic' };
  }
  return { id: req.body.client_id, secret: req.body.client_secret, method: 'post' };
}

server.service.on('beforeTokenSigning', (token, req) => {
  token.payload.exp = token.payload.iat + life;
  token.payload.jti = crypto.randomUUID(); // two tokens issued in one second differ, as real ones do
  if (req.body.grant_type !== 'refresh_token') token.payload.client_id = caller(req).id;
});

server.service.on('beforeResponse', (response, req) => {
  const who = caller(req);
  const grant = req.body.grant_type;
  let ok;
  if (grant === 'refresh_token') {
    ok = clients[`refresh:${req.body.refresh_token}`] !== undefined;
    if (!ok) response.body = { error: 'invalid_grant', error_description: 'refresh token revoked' };
  } else {
    ok = who.method === 'private_key_jwt' ? who.ok : who.id !== undefined && clients[who.id] === who.secret;
    if (!ok) response.body = { error: 'invalid_client', error_description: `client ${who.id} is unknown or revoked` };
  }
  if (ok) {
    response.body.expires_in = seconds;
    if (grant === 'refresh_token') response.body.refresh_token = req.body.refresh_token;
  } else {
    response.statusCode = grant === 'refresh_token' ? 400 : 401;
  }
  const line = { grant, client: who.id ?? null, token: response.body.access_token ?? null, method: who.method, resource: req.body.resource ?? null,
                 scope: req.body.scope ?? null, ok };
  fs.appendFileSync(logPath, JSON.stringify(line) + '\n');
});

await server.start(Number(port), '127.0.0.1');
console.log(`listening ${server.issuer.url}`);
