// `npm run try` helpers (scripts/try-lib.ts): options from argv/env and the code-server URL that loads the extension.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_TRY_PORT, extensionPayload, parsePort, parseTryOptions, workbenchUrl } from '../../scripts/try-lib';

describe('npm run try: options', () => {
  it('defaults to port 8080 (not explicit), MNIST on, no reset/open', () => {
    const o = parseTryOptions([], {});
    assert.deepEqual(o, { port: DEFAULT_TRY_PORT, portExplicit: false, reset: false, open: false, mnist: true, help: false });
    assert.equal(DEFAULT_TRY_PORT, 8080);
  });
  it('takes the port from QUANTLENS_TRY_PORT, and --port wins over it', () => {
    assert.deepEqual([parseTryOptions([], { QUANTLENS_TRY_PORT: '9000' }).port, parseTryOptions([], { QUANTLENS_TRY_PORT: '9000' }).portExplicit], [9000, true]);
    assert.equal(parseTryOptions(['--port', '9100'], { QUANTLENS_TRY_PORT: '9000' }).port, 9100);
    assert.equal(parseTryOptions(['--port=9200']).port, 9200);
  });
  it('parses the flags and the workspace folder', () => {
    const o = parseTryOptions(['--reset', '--open', '--no-mnist', '--workspace', '/tmp/ws']);
    assert.equal(o.reset, true);
    assert.equal(o.open, true);
    assert.equal(o.mnist, false);
    assert.equal(o.workspace, '/tmp/ws');
    assert.equal(parseTryOptions(['-h']).help, true);
  });
  it('rejects bad ports, unknown options and a missing value, naming the source', () => {
    assert.throws(() => parsePort('0', '--port'), /--port: '0' is not a port/);
    assert.throws(() => parsePort('70000', '--port'), /not a port/);
    assert.throws(() => parsePort('80a', '--port'), /not a port/);
    assert.throws(() => parseTryOptions([], { QUANTLENS_TRY_PORT: 'x' }), /QUANTLENS_TRY_PORT/);
    assert.throws(() => parseTryOptions(['--frobnicate']), /unknown option '--frobnicate'/);
    assert.throws(() => parseTryOptions(['--port']), /--port needs a value/);
  });
});

describe('npm run try: workbench URL', () => {
  it('loads the extension from source through a vscode-remote payload on the same host and port', () => {
    const payload = JSON.parse(extensionPayload('127.0.0.1', 8080, '/work/ext')) as string[][];
    assert.deepEqual(payload, [['extensionDevelopmentPath', 'vscode-remote://127.0.0.1:8080/work/ext']]);
  });
  it('encodes the folder and payload as query parameters that decode back', () => {
    const url = new URL(workbenchUrl('127.0.0.1', 8123, '/home/me/my models', '/src/quant lens'));
    assert.equal(url.origin, 'http://127.0.0.1:8123');
    assert.equal(url.searchParams.get('folder'), '/home/me/my models');
    assert.deepEqual(JSON.parse(url.searchParams.get('payload')!), [['extensionDevelopmentPath', 'vscode-remote://127.0.0.1:8123/src/quant lens']]);
  });
  it('turns Windows-style paths into remote posix paths', () => {
    const url = new URL(workbenchUrl('127.0.0.1', 8080, 'C:\\ws', 'C:\\ext'));
    assert.equal(url.searchParams.get('folder'), '/C:/ws');
    assert.match(url.searchParams.get('payload')!, /vscode-remote:\/\/127\.0\.0\.1:8080\/C:\/ext/);
  });
});
