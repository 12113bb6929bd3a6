/** Starts the engine as a child process and talks JSON-RPC to it over stdio (for tests and the CLI). */
import { spawn, ChildProcess } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { createMessageConnection, MessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node';
import { InitializeRequest, ExitNotification, ShutdownRequest, InitializedNotification } from 'vscode-languageserver-protocol';
import type { InitializeResult } from 'vscode-languageserver-protocol';
import type { EngineInitOptions } from '../shared/protocol';

/** How to start the engine. */
export interface StartEngineOptions {
  /** `source` runs src/engine/main.ts through tsx; `dist` runs the built dist/engine.js. Default: `source` when tsx is installed. */
  entry?: 'source' | 'dist';
  /** A bundled engine script to run instead (overrides `entry`). */
  script?: string;
  /** The project root (where src/ and dist/ are). Default: found upward from this file or the cwd. */
  root?: string;
  initializationOptions?: EngineInitOptions;
  /** Extra environment variables for the engine. */
  env?: Record<string, string>;
  /** Working folder of the engine (relative model paths resolve against it). */
  cwd?: string;
}

/** A running engine and the connection to it. */
export interface EngineClient {
  connection: MessageConnection;
  child: ChildProcess;
  /** Everything the engine wrote to stderr so far. */
  stderr(): string;
  /** The initialize result (capabilities). */
  initializeResult: InitializeResult;
  /** Resolves with the exit code (or signal) when the engine process ends. */
  exited: Promise<number | string | null>;
  /** Shuts the engine down politely, killing it when it does not exit within 5 s. */
  close(): Promise<void>;
}

/** The project root: the nearest folder upward holding package.json and src/engine/main.ts. */
export function findProjectRoot(start = __dirname): string {
  for (const s of [start, process.cwd()]) {
    let d = path.resolve(s);
    for (;;) {
      if (fs.existsSync(path.join(d, 'package.json')) && fs.existsSync(path.join(d, 'src', 'engine', 'main.ts'))) return d;
      const up = path.dirname(d);
      if (up === d) break;
      d = up;
    }
  }
  return process.cwd();
}

/** Starts the engine over stdio, sends initialize/initialized and returns the connection. */
export async function startEngine(opts: StartEngineOptions = {}): Promise<EngineClient> {
  const root = opts.root ?? findProjectRoot();
  const entry = opts.entry ?? (fs.existsSync(path.join(root, 'node_modules', 'tsx')) ? 'source' : 'dist');
  const args = opts.script ? [opts.script, '--stdio'] : entry === 'source'
    ? ['--import', 'tsx', path.join(root, 'src', 'engine', 'main.ts'), '--stdio']
    : [path.join(root, 'dist', 'engine.js'), '--stdio'];
  const child = spawn(process.execPath, args, {
    cwd: opts.cwd ?? root,
    env: { ...process.env, NODE_OPTIONS: '', ...opts.env },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let err = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (d: string) => { err += d; });
  const exited = new Promise<number | string | null>((resolve) => child.on('exit', (code, signal) => resolve(code ?? signal)));
  const connection = createMessageConnection(new StreamMessageReader(child.stdout!), new StreamMessageWriter(child.stdin!));
  connection.listen();
  const failed = exited.then((code) => { throw new Error(`the engine exited (${code}) before initializing:\n${err}`); });
  const initializeResult = await Promise.race([
    connection.sendRequest(InitializeRequest.type, {
      processId: process.pid,
      rootUri: null,
      capabilities: { window: { workDoneProgress: true } },
      initializationOptions: opts.initializationOptions ?? {},
    }),
    failed,
  ]);
  failed.catch(() => {});
  await connection.sendNotification(InitializedNotification.type, {});
  const close = async () => {
    if (child.exitCode !== null || child.signalCode !== null) { connection.dispose(); return; }
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    try {
      await Promise.race([connection.sendRequest(ShutdownRequest.type), exited]);
      await connection.sendNotification(ExitNotification.type);
    } catch { child.kill('SIGKILL'); }
    await exited;
    clearTimeout(timer);
    connection.dispose();
  };
  return { connection, child, stderr: () => err, initializeResult, exited, close };
}
