/**
 * The QuantLens engine proper, run in a worker thread by src/engine/main.ts: a language server for recipe files plus
 * the `quant/*` requests, jobs and caches. Its JSON-RPC messages travel through the main thread (src/shared/job-messages.ts),
 * which answers `quant/status` and cancellations itself while this thread is busy in a long synchronous call.
 */
import { parentPort } from 'worker_threads';
import { AbstractMessageReader, AbstractMessageWriter, CancellationSenderStrategy, CancellationTokenSource } from 'vscode-jsonrpc';
import type { CancellationToken, DataCallback, Disposable, Message, RequestMessage } from 'vscode-jsonrpc';
import { createConnection, ProposedFeatures, TextDocuments, TextDocumentSyncKind, DidChangeConfigurationNotification } from 'vscode-languageserver/node';
import type { InitializeResult } from 'vscode-languageserver/node';
import { TextDocument } from 'vscode-languageserver-textdocument';
import type { FromEngineWorker, ToEngineWorker } from '../shared/job-messages';
import type { EngineInitOptions } from '../shared/protocol';
import { Engine } from './engine';
import { registerRecipeFeatures } from './recipe/features';
import { registerQuantRequests } from './requests';

if (!parentPort) throw new Error('src/engine/worker.ts runs in a worker thread started by src/engine/main.ts');
const port = parentPort;
const post = (m: FromEngineWorker) => port.postMessage(m);

/** Reads the client's messages relayed by the main thread. */
class PortReader extends AbstractMessageReader {
  listen(callback: DataCallback): Disposable {
    const on = (m: ToEngineWorker) => { if (m.type === 'rpc') callback(m.message); };
    port.on('message', on);
    return { dispose: () => port.off('message', on) };
  }
}

/** Sends messages to the client through the main thread. */
class PortWriter extends AbstractMessageWriter {
  async write(message: Message): Promise<void> {
    try {
      post({ type: 'rpc', message });
    } catch {
      post({ type: 'rpc', message: JSON.parse(JSON.stringify(message)) }); // drops what JSON drops (functions), as a stream would
    }
  }
  end(): void {}
}

/** The request each cancellation token belongs to, so a job can be tied to its request (FromEngineWorker 'job'). */
const requestOfToken = new WeakMap<CancellationToken, number | string>();
const connection = createConnection(ProposedFeatures.all, new PortReader(), new PortWriter(), {
  cancellationStrategy: {
    receiver: {
      kind: 'request',
      createCancellationTokenSource(request: RequestMessage) {
        const source = new CancellationTokenSource();
        if (request.id !== null) requestOfToken.set(source.token, request.id);
        return source;
      },
    },
    sender: CancellationSenderStrategy.Message,
  },
});
const documents = new TextDocuments(TextDocument);
const engine = new Engine(connection);
engine.onStatus = (status) => post({ type: 'status', status });
engine.onJobStart = (job, token) => {
  const request = token && requestOfToken.get(token);
  if (request !== undefined) post({ type: 'job', job: job.info.id, request });
};
registerQuantRequests(connection, engine);
// Recipe language features (diagnostics, completion, hover, actions) on `*.qrecipe.json` documents.
const recipeCapabilities = registerRecipeFeatures(connection, documents, engine);

connection.onInitialize((params): InitializeResult => {
  const options = (params.initializationOptions ?? {}) as EngineInitOptions;
  const env = process.env;
  engine.configure({
    ...options,
    memoryBudgetMB: options.memoryBudgetMB ?? numberOrUndefined(env.QUANTLENS_MEMORY_BUDGET_MB),
    threads: options.threads ?? numberOrUndefined(env.QUANTLENS_THREADS),
    stepFile: options.stepFile ?? env.QUANTLENS_STEP_FILE,
  });
  post({ type: 'status', status: engine.status() });
  return {
    capabilities: { textDocumentSync: TextDocumentSyncKind.Incremental, ...recipeCapabilities },
    serverInfo: { name: 'quantlens-engine', version: '0.1.0' },
  };
});

connection.onInitialized(() => {
  // Ask for the `quantlens` settings when the client supports pulling them.
  void connection.workspace.getConfiguration('quantlens').then((s) => engine.applySettings(s), () => {});
  void connection.client.register(DidChangeConfigurationNotification.type, { section: 'quantlens' }).catch(() => {});
});

connection.onDidChangeConfiguration((change) => {
  const s = (change.settings as { quantlens?: EngineInitOptions } | undefined)?.quantlens;
  if (s) engine.applySettings(s);
  else void connection.workspace.getConfiguration('quantlens').then((c) => engine.applySettings(c), () => {});
});

connection.onShutdown(async () => {
  await engine.dispose();
});

process.on('uncaughtException', (e) => {
  connection.console.error(`engine uncaught exception: ${e?.stack ?? e}`);
});
process.on('unhandledRejection', (e) => {
  connection.console.error(`engine unhandled rejection: ${(e as Error)?.stack ?? e}`);
});

documents.listen(connection);
connection.listen();

function numberOrUndefined(v: string | undefined): number | undefined {
  const n = Number(v);
  return v && Number.isFinite(n) && n > 0 ? n : undefined;
}
