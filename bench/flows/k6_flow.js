// The MCP flow mcpgate runs, for k6: initialize -> notifications/initialized -> tools/list ->
// tools/call echo -> DELETE, on the stub (JSON responses), with the checks a load test needs:
// every answer's id is the request's and it holds a result. 2025-11-25 handshake.
// MCP_URL, VUS, DURATION and THINK ("0.5..2": seconds of think time after each iteration, as
// mcpgate's think_time) come from the environment (bench/suite.py sets them).
import http from 'k6/http';
import { check, sleep } from 'k6';

const URL = __ENV.MCP_URL;
const VERSION = '2025-11-25';
const THINK = __ENV.THINK ? __ENV.THINK.split('..').map(Number) : null;
const base = { 'Content-Type': 'application/json', 'Accept': 'application/json, text/event-stream' };

export const options = {
  scenarios: {
    flow: { executor: 'constant-vus', vus: Number(__ENV.VUS || 50), duration: __ENV.DURATION || '15s' },
  },
  summaryTrendStats: ['avg', 'med', 'p(95)', 'p(99)', 'max'],
};

let nextId = 0;

function rpc(method, params, headers) {
  const id = ++nextId;
  const r = http.post(URL, JSON.stringify({ jsonrpc: '2.0', id: id, method: method, params: params }), { headers: headers });
  let body = null;
  try { body = JSON.parse(r.body); } catch (e) { body = null; }
  check(body, { [`${method} answers its id with a result`]: (b) => b !== null && b.id === id && b.result !== undefined });
  return r;
}

export default function () {
  const init = rpc('initialize', { protocolVersion: VERSION, capabilities: {}, clientInfo: { name: 'k6', version: '1' } }, base);
  const session = Object.assign({ 'Mcp-Session-Id': init.headers['Mcp-Session-Id'], 'MCP-Protocol-Version': VERSION }, base);
  const note = http.post(URL, JSON.stringify({ jsonrpc: '2.0', method: 'notifications/initialized' }), { headers: session });
  check(note, { 'initialized is accepted': (r) => r.status === 202 });
  rpc('tools/list', {}, session);
  rpc('tools/call', { name: 'echo', arguments: { text: 'hello' } }, session);
  const del = http.del(URL, null, { headers: session });
  check(del, { 'session ends': (r) => r.status === 200 });
  if (THINK) {
    sleep(THINK[0] + Math.random() * (THINK[1] - THINK[0]));
  }
}
