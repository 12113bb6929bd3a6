/**
 * The QuantLens engine process. Started by the extension over IPC (`--node-ipc`), or standalone with
 * `node dist/engine.js --stdio`. The engine itself (src/engine/worker.ts: models, caches, jobs, recipe features)
 * runs in a worker thread, because ONNX Runtime blocks the thread it is called on for seconds while it creates a
 * session for a big model. This thread only relays JSON-RPC messages (src/engine/relay.ts), so `quant/status` and
 * cancellations are answered at once whatever the worker is doing, and ends the process when the client goes away.
 */
import * as fs from 'fs';
import * as path from 'path';
import { Worker } from 'worker_threads';
import { IPCMessageReader, IPCMessageWriter, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import type { MessageReader, MessageWriter } from 'vscode-jsonrpc/node';
import type { FromEngineWorker, ToEngineWorker } from '../shared/job-messages';
import { Relay } from './relay';

const [reader, writer] = clientTransport();
// The worker's stray console output goes to stderr, never into a stdio protocol stream.
const worker = startWorker();
worker.stdout.pipe(process.stderr);

const relay = new Relay((m) => void writer.write(m), (m: ToEngineWorker) => worker.postMessage(m));
worker.on('message', (m: FromEngineWorker) => relay.fromWorker(m));
reader.listen((m) => relay.fromClient(m));
reader.onClose(() => bye('the client closed the connection', relay.shutdownRequested ? 0 : 1));
worker.on('error', (e) => bye(`the engine worker failed: ${e?.stack ?? e}`, 1));
// The worker ends on the `exit` notification (or its parent-process watch) with the process's exit code.
worker.on('exit', (code) => process.exit(code));
exitWithClient();

process.on('uncaughtException', (e) => {
  try { fs.writeSync(2, `engine uncaught exception: ${e?.stack ?? e}\n`); } catch { /* stderr gone */ }
});

/** Starts the engine worker: dist/engine-worker.js when bundled (esbuild.mjs), worker.ts through tsx when run from source. */
function startWorker(): Worker {
  if (!__filename.endsWith('.ts')) return new Worker(path.join(__dirname, 'engine-worker.js'), { stdout: true });
  const source = `require('tsx/cjs'); require(${JSON.stringify(path.join(__dirname, 'worker.ts'))});`;
  return new Worker(source, { eval: true, stdout: true });
}

/** The client connection named on the command line (as vscode-languageserver reads it): `--node-ipc` or `--stdio`. */
function clientTransport(): [MessageReader, MessageWriter] {
  const args = process.argv.slice(2);
  if (args.includes('--node-ipc')) return [new IPCMessageReader(process), new IPCMessageWriter(process)];
  if (args.includes('--stdio')) return [new StreamMessageReader(process.stdin), new StreamMessageWriter(process.stdout)];
  bye('start the engine with --node-ipc or --stdio', 2);
}

/**
 * Ends the engine when its client goes away, even while a job runs: the IPC channel disconnects, stdin ends, or
 * the parent process dies (checked every second by the parent pid, also when the client sent no processId). An
 * orphaned engine would otherwise keep its memory and cores.
 */
function exitWithClient(): void {
  const parent = process.ppid;
  process.on('disconnect', () => bye('the IPC channel to the client closed', 1));
  setInterval(() => { if (process.ppid !== parent) bye(`the parent process ${parent} is gone`, 1); }, 1000).unref();
}

function bye(why: string, code: number): never {
  try { fs.writeSync(2, `quantlens engine: exiting, ${why}\n`); } catch { /* stderr gone too */ }
  process.exit(code);
}
