// An MCP client for mnemo's end-to-end tests, built on the official
// TypeScript SDK so that the server is checked against a real client.
//
//   node client.mjs http  <mcp-endpoint-url> <token> <script.json>
//   node client.mjs stdio <mnemo-binary> <server-url> <token> <script.json>
//
// http connects with StreamableHTTPClientTransport and sends
// "Authorization: Bearer <token>"; stdio runs
// "<mnemo-binary> mcp --url <server-url>" with MNEMO_API_KEY=<token> in its
// environment (never the key on its command line) and speaks MCP over its
// stdin/stdout (its stderr passes through to ours). MNEMO_MCP_KEEPALIVE,
// when set, is passed on to it.
//
// The script is a JSON array of steps:
//   {"op":"list_tools"}
//   {"op":"call","tool":"store_memory","args":{...}}
//   {"op":"server_info"}  (what initialize returned)
//   {"op":"ping"}
//   {"op":"sleep","ms":N}  (waits, as an idle user would)
// Each step prints one JSON line on stdout, in order:
//   {"op":"list_tools","tools":[sorted names],"definitions":{name: tool}}
//   {"op":"call","tool":..., "isError":bool, "text":"...", "structured":{...}|null}
//   {"op":"server_info","serverInfo":{...},"capabilities":{...},"instructions":...,"protocolVersion":...}
//   {"op":"ping"}
// A step that throws prints {"op":..., ["tool":...,] "error":message,
// "code":code|null, "error_type":name} and the script goes on. "code" is the
// JSON-RPC error code for an McpError (from the server, or raised by the SDK
// itself) and the HTTP status for a StreamableHTTPError.
//
// Arguments may point at earlier results: a string "$N.path" is replaced by
// the value at path (dot-separated; numeric parts index arrays) in step N's
// "structured" (N counts from 0 over all steps); "$N" alone is the whole of
// it. A reference that does not resolve fails the step. A string that begins
// with "$$" stands for itself less the first "$".
//
// Env: MCPCLIENT_TIMEOUT_MS, the per-request timeout (default 30000).
//
// Exit status: 0 once every step has run, 2 for bad usage or a failure to
// connect (the error goes to stderr).

import { readFileSync } from 'node:fs';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { StdioClientTransport, getDefaultEnvironment } from '@modelcontextprotocol/sdk/client/stdio.js';

function usage(msg) {
    process.stderr.write(
        (msg ? msg + '\n' : '') +
            'usage: node client.mjs http <url> <token> <script.json>\n' +
            '       node client.mjs stdio <mnemo-binary> <url> <token> <script.json>\n'
    );
    process.exit(2);
}

// Resolves only once the line has been handed to the OS, so that exiting
// afterwards loses nothing.
function emit(obj) {
    return new Promise(resolve => process.stdout.write(JSON.stringify(obj) + '\n', () => resolve()));
}

function errorFields(err) {
    let message = err instanceof Error ? err.message : String(err);
    // fetch() reports "fetch failed" and hides the reason in cause.
    if (err && err.cause && err.cause.message) message += ': ' + err.cause.message;
    const out = { error: message, code: null };
    if (err && typeof err === 'object') {
        if (err.code !== undefined) out.code = err.code;
        if (err.data !== undefined) out.data = err.data;
        out.error_type = err.constructor && err.constructor.name !== 'Error' ? err.constructor.name : err.name || 'Error';
    }
    return out;
}

function lookup(results, n, path, ref) {
    if (n >= results.length) throw new Error(`unresolved reference ${ref}: step ${n} has not run`);
    let v = results[n];
    if (v === undefined || v === null) throw new Error(`unresolved reference ${ref}: step ${n} has no structured result`);
    if (path === undefined || path === '') return v;
    for (const part of path.split('.')) {
        if (v === null || typeof v !== 'object') throw new Error(`unresolved reference ${ref}: no "${part}"`);
        if (Array.isArray(v)) {
            if (!/^\d+$/.test(part) || Number(part) >= v.length) throw new Error(`unresolved reference ${ref}: no index "${part}"`);
            v = v[Number(part)];
        } else {
            if (!Object.prototype.hasOwnProperty.call(v, part)) throw new Error(`unresolved reference ${ref}: no "${part}"`);
            v = v[part];
        }
    }
    return v;
}

function resolve(value, results) {
    if (typeof value === 'string') {
        if (value.startsWith('$$')) return value.slice(1);
        const m = /^\$(\d+)(?:\.(.*))?$/.exec(value);
        return m ? lookup(results, Number(m[1]), m[2], value) : value;
    }
    if (Array.isArray(value)) return value.map(v => resolve(v, results));
    if (value !== null && typeof value === 'object') {
        const out = {};
        for (const [k, v] of Object.entries(value)) out[k] = resolve(v, results);
        return out;
    }
    return value;
}

async function main() {
    const [mode, ...rest] = process.argv.slice(2);
    let transport, scriptPath;
    if (mode === 'http') {
        if (rest.length !== 3) usage('http wants <url> <token> <script.json>');
        const [url, token, script] = rest;
        scriptPath = script;
        transport = new StreamableHTTPClientTransport(new URL(url), {
            requestInit: { headers: { Authorization: 'Bearer ' + token } },
        });
    } else if (mode === 'stdio') {
        if (rest.length !== 4) usage('stdio wants <mnemo-binary> <url> <token> <script.json>');
        const [binary, url, token, script] = rest;
        scriptPath = script;
        const env = { ...getDefaultEnvironment(), MNEMO_API_KEY: token };
        if (process.env.MNEMO_MCP_KEEPALIVE) env.MNEMO_MCP_KEEPALIVE = process.env.MNEMO_MCP_KEEPALIVE;
        transport = new StdioClientTransport({
            command: binary,
            args: ['mcp', '--url', url],
            env,
            stderr: 'inherit',
        });
    } else {
        usage(mode ? `unknown mode ${mode}` : '');
    }

    let steps;
    try {
        steps = JSON.parse(readFileSync(scriptPath, 'utf8'));
        if (!Array.isArray(steps)) throw new Error('the script must be a JSON array of steps');
    } catch (err) {
        usage(`bad script ${scriptPath}: ${err.message}`);
    }

    // The client hands the negotiated protocol version to transports that
    // take it (HTTP sends it as MCP-Protocol-Version); note it for server_info.
    let negotiated = null;
    const setProtocolVersion = transport.setProtocolVersion?.bind(transport);
    transport.setProtocolVersion = v => {
        negotiated = v;
        setProtocolVersion?.(v);
    };

    const timeout = Number(process.env.MCPCLIENT_TIMEOUT_MS || 30000);
    const client = new Client({ name: 'mnemo-e2e-mcpclient', version: '0.0.0' });
    // Transport trouble outside a request (such as the optional GET event
    // stream being refused) is not fatal to the SDK; make it visible. What
    // comes while connecting is held back, since a failed connect says it
    // again.
    let held = [];
    client.onerror = err => {
        const msg = `mcpclient: transport error: ${err && err.message ? err.message : err}\n`;
        if (held) held.push(msg);
        else process.stderr.write(msg);
    };
    try {
        await client.connect(transport, { timeout });
        for (const msg of held) process.stderr.write(msg);
        held = null;
    } catch (err) {
        const f = errorFields(err);
        process.stderr.write(`mcpclient: connect failed: ${f.error}${f.code !== null ? ` (code ${f.code})` : ''}\n`);
        await transport.close().catch(() => {});
        process.exit(2);
    }

    const structured = []; // per step: structuredContent, or null
    for (const step of steps) {
        const op = step && step.op;
        const line = { op };
        let result = null;
        try {
            switch (op) {
                case 'list_tools': {
                    const r = await client.listTools(undefined, { timeout });
                    line.tools = r.tools.map(t => t.name).sort();
                    line.definitions = Object.fromEntries(r.tools.map(t => [t.name, t]));
                    break;
                }
                case 'call': {
                    line.tool = step.tool;
                    const args = resolve(step.args ?? {}, structured);
                    const r = await client.callTool({ name: step.tool, arguments: args }, undefined, { timeout });
                    line.isError = r.isError === true;
                    line.text = (r.content ?? []).filter(c => c.type === 'text').map(c => c.text).join('\n');
                    line.structured = r.structuredContent ?? null;
                    result = line.structured;
                    break;
                }
                case 'server_info':
                    line.serverInfo = client.getServerVersion() ?? null;
                    line.capabilities = client.getServerCapabilities() ?? null;
                    line.instructions = client.getInstructions() ?? null;
                    line.protocolVersion = negotiated;
                    break;
                case 'ping':
                    await client.ping({ timeout });
                    break;
                case 'sleep':
                    await new Promise(resolve => setTimeout(resolve, Number(step.ms)));
                    break;
                default:
                    throw new Error(`unknown op ${JSON.stringify(op)}`);
            }
        } catch (err) {
            for (const k of ['tools', 'definitions', 'isError', 'text', 'structured']) delete line[k];
            Object.assign(line, errorFields(err));
        }
        structured.push(result);
        await emit(line);
    }

    await client.close().catch(err => process.stderr.write(`mcpclient: close: ${err.message}\n`));
    process.exit(0);
}

main().catch(err => {
    process.stderr.write(`mcpclient: ${err && err.stack ? err.stack : err}\n`);
    process.exit(2);
});
