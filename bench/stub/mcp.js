// A fast stub MCP server for generator benchmarks, run by nginx's njs module (njs >= 0.7).
//
// POST /mcp answers one JSON-RPC message the way a Streamable HTTP server in JSON mode does
// (`application/json` bodies, never SSE), for both protocol eras:
//   - handshake era (2024-11-05 .. 2025-11-25): `initialize` echoes the requested protocolVersion
//     (or offers 2025-11-25 for one it does not know) and sets `Mcp-Session-Id`; every later
//     message must carry that header (400 otherwise, as a stateful SDK server answers); `ping`.
//   - 2026-07-28 (stateless): `server/discover`; `Mcp-Method`/`Mcp-Name` must match the body
//     (400, -32020 otherwise); every result carries `resultType: "complete"`; no `ping` (404).
// Both: notifications and client responses get 202; `tools/list` (two read-only tools);
// `tools/call` (`echo`, `add`; an unknown tool is an `isError` result); an unknown method gets
// -32601 (HTTP 404 on 2026-07-28). DELETE gets 200, GET 405.
//
// The request id is echoed as JSON.parse read it: strings and integers up to 2^53 exactly.
// Latency benchmarks: `tools/call` waits a fixed delay taken from `$stub_delay_ms` (set by the
// location /mcp-delay-<N>ms) or the query parameter `delay_ms` (e.g. /mcp?delay_ms=5).
// Constant results are encoded once, at load time; a response is a string concatenation.

const MODERN = '2026-07-28';
const HANDSHAKE = ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25'];
const LATEST_HANDSHAKE = '2025-11-25';
const VERSION_KEY = 'io.modelcontextprotocol/protocolVersion';
const SERVER_INFO = { name: 'mcpgate-stub', version: '1.0.0' };
const MAX_DELAY_MS = 60000;

const TOOLS = [
    {
        name: 'echo',
        description: 'Return the text argument (or the arguments as JSON).',
        inputSchema: {
            type: 'object',
            properties: { text: { type: 'string', examples: ['hello'] } },
        },
        annotations: { readOnlyHint: true, openWorldHint: false },
    },
    {
        name: 'add',
        description: 'Add two numbers.',
        inputSchema: {
            type: 'object',
            properties: { a: { type: 'number', examples: [2] }, b: { type: 'number', examples: [3] } },
            required: ['a', 'b'],
        },
        annotations: { readOnlyHint: true, openWorldHint: false },
    },
];
const CAPABILITIES = { tools: { listChanged: false } };

const TOOLS_LIST = JSON.stringify({ tools: TOOLS });
const TOOLS_LIST_MODERN = JSON.stringify({ tools: TOOLS, resultType: 'complete', ttlMs: 0, cacheScope: 'private' });
const DISCOVER = JSON.stringify({
    supportedVersions: [MODERN],
    capabilities: CAPABILITIES,
    resultType: 'complete',
    ttlMs: 0,
    cacheScope: 'private',
    _meta: { 'io.modelcontextprotocol/serverInfo': SERVER_INFO },
});
const INIT_TAIL = ',"capabilities":' + JSON.stringify(CAPABILITIES) + ',"serverInfo":' + JSON.stringify(SERVER_INFO) + '}';
const EMPTY = '{}';

function send(r, status, body) {
    r.headersOut['Content-Type'] = 'application/json';
    r.return(status, body);
}

function result(r, id, resultJson) {
    send(r, 200, '{"jsonrpc":"2.0","id":' + JSON.stringify(id) + ',"result":' + resultJson + '}');
}

function error(r, status, id, code, message) {
    const idJson = id === undefined ? 'null' : JSON.stringify(id);
    send(r, status, '{"jsonrpc":"2.0","id":' + idJson + ',"error":{"code":' + code + ',"message":' + JSON.stringify(message) + '}}');
}

function delayMs(r) {
    const raw = r.variables.stub_delay_ms || r.args.delay_ms;
    const ms = raw ? parseInt(raw, 10) : 0;
    return ms > 0 ? Math.min(ms, MAX_DELAY_MS) : 0;
}

function callTool(params, modern) {
    const name = params.name;
    const args = params.arguments && typeof params.arguments === 'object' ? params.arguments : {};
    let text;
    let isError = false;
    let structured;
    if (name === 'echo') {
        text = typeof args.text === 'string' ? args.text : JSON.stringify(args);
    } else if (name === 'add') {
        const sum = Number(args.a) + Number(args.b);
        if (isNaN(sum)) {
            text = 'add needs numbers a and b';
            isError = true;
        } else {
            text = String(sum);
            structured = { result: sum };
        }
    } else {
        text = 'Unknown tool: ' + name;
        isError = true;
    }
    const out = { content: [{ type: 'text', text: text }], isError: isError };
    if (structured !== undefined) {
        out.structuredContent = structured;
    }
    if (modern) {
        out.resultType = 'complete';
    }
    return JSON.stringify(out);
}

function handle(r) {
    const httpMethod = r.method;
    if (httpMethod === 'DELETE') {
        r.return(200);
        return;
    }
    if (httpMethod !== 'POST') {
        r.headersOut['Allow'] = 'POST, DELETE';
        r.return(405);
        return;
    }
    let msg;
    try {
        msg = JSON.parse(r.requestText);
    } catch (e) {
        error(r, 400, null, -32700, 'Parse error');
        return;
    }
    if (msg === null || typeof msg !== 'object' || Array.isArray(msg)) {
        error(r, 400, null, -32600, 'Invalid Request: expected one JSON-RPC object');
        return;
    }
    const id = msg.id;
    if (msg.jsonrpc !== '2.0') {
        error(r, 400, id, -32600, 'Invalid Request: jsonrpc must be "2.0"');
        return;
    }
    const method = msg.method;
    const params = msg.params && typeof msg.params === 'object' ? msg.params : {};
    const headerVersion = r.headersIn['MCP-Protocol-Version'];
    const metaVersion = params._meta && typeof params._meta === 'object' ? params._meta[VERSION_KEY] : undefined;
    const modern = headerVersion === MODERN || metaVersion === MODERN || method === 'server/discover';

    if (modern) {
        if (headerVersion !== undefined && metaVersion !== undefined && headerVersion !== metaVersion) {
            error(r, 400, id, -32020, 'Header mismatch: MCP-Protocol-Version and params._meta differ');
            return;
        }
        if (method !== undefined && r.headersIn['Mcp-Method'] !== method) {
            error(r, 400, id, -32020, 'Header mismatch: Mcp-Method must equal the method');
            return;
        }
    } else if (headerVersion !== undefined && HANDSHAKE.indexOf(headerVersion) < 0) {
        error(r, 400, id, -32022, 'Unsupported protocol version: ' + headerVersion);
        return;
    }

    if (typeof method !== 'string') {
        // A response to a server request (result or error): accepted, nothing to say.
        if (id !== undefined && ('result' in msg || 'error' in msg)) {
            r.return(202);
        } else {
            error(r, 400, id, -32600, 'Invalid Request: no method');
        }
        return;
    }
    if (!modern && method !== 'initialize' && !r.headersIn['Mcp-Session-Id']) {
        error(r, 400, id, -32600, 'Bad Request: Missing session ID');
        return;
    }
    if (id === undefined) {
        r.return(202); // a notification
        return;
    }

    if (method === 'tools/call') {
        if (modern && r.headersIn['Mcp-Name'] !== params.name) {
            error(r, 400, id, -32020, 'Header mismatch: Mcp-Name must equal params.name');
            return;
        }
        const body = callTool(params, modern);
        const wait = delayMs(r);
        if (wait > 0) {
            setTimeout(function () {
                result(r, id, body);
            }, wait);
        } else {
            result(r, id, body);
        }
    } else if (method === 'tools/list') {
        result(r, id, modern ? TOOLS_LIST_MODERN : TOOLS_LIST);
    } else if (method === 'server/discover') {
        result(r, id, DISCOVER);
    } else if (method === 'initialize' && !modern) {
        const asked = params.protocolVersion;
        const version = HANDSHAKE.indexOf(asked) >= 0 ? asked : LATEST_HANDSHAKE;
        r.headersOut['Mcp-Session-Id'] = r.variables.request_id;
        result(r, id, '{"protocolVersion":' + JSON.stringify(version) + INIT_TAIL);
    } else if (method === 'ping' && !modern) {
        result(r, id, EMPTY);
    } else {
        error(r, modern ? 404 : 200, id, -32601, 'Method not found: ' + method);
    }
}

export default { handle };
