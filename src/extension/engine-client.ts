/** Starts the engine process (language server over IPC) and wraps its typed custom requests with progress and cancellation. */
import * as fs from 'node:fs';
import * as vscode from 'vscode';
import { CloseAction, ErrorAction, LanguageClient, TransportKind, WorkDoneProgress, type LanguageClientOptions, type ServerOptions } from 'vscode-languageclient/node';
import type { WorkDoneProgressBegin, WorkDoneProgressReport, WorkDoneProgressEnd } from 'vscode-languageclient/node';
import type { ProgressType, RequestType } from 'vscode-languageserver-protocol';
import { EngineErrorNotification, type EngineInitOptions, JobsNotification, QatProgressNotification, type JobInfo, type QatProgress } from '../shared/protocol';
import type { QuantLensSettings } from './settings';
import { crashMessage } from './crash-report';
import * as path from 'node:path';
import * as readline from 'node:readline';
import { engineLineLevel } from './log-levels';
import { withMallocTuning } from '../shared/malloc-env';

/** Progress callbacks of one request. */
export interface RequestProgress<P> {
  /** Work-done progress (message, percentage 0..100). */
  onWork?: (message: string | undefined, percentage: number | undefined) => void;
  /** Partial results, when the request streams them. */
  partial?: { type: ProgressType<P>; onPartial: (value: P) => void };
}

/** The extension's connection to the engine. */
export class EngineClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private starting: Promise<LanguageClient> | undefined;
  private tokenSeq = 0;
  private crashes: number[] = [];
  private readonly jobsEmitter = new vscode.EventEmitter<JobInfo[]>();
  private readonly qatEmitter = new vscode.EventEmitter<QatProgress>();
  /** The engine's job list changed. */
  readonly onJobs = this.jobsEmitter.event;
  /** A QAT curve point arrived. */
  readonly onQatProgress = this.qatEmitter.event;
  /** The latest job list. */
  jobs: JobInfo[] = [];

  constructor(private readonly context: vscode.ExtensionContext, private readonly settings: () => QuantLensSettings, private readonly output: vscode.LogOutputChannel) {}

  /** The running client, started on first use. */
  async ready(): Promise<LanguageClient> {
    if (this.client) return this.client;
    this.starting ??= this.start().catch((e) => { this.starting = undefined; throw e; });
    return this.starting;
  }

  private async start(): Promise<LanguageClient> {
    const module = this.context.asAbsolutePath('dist/engine.js');
    if (!fs.existsSync(module)) throw new Error(`QuantLens engine not found at ${module}: build the extension (npm run build).`);
    const s = this.settings();
    const env = withMallocTuning({ ...process.env, QUANTLENS_THREADS: String(s.threads), QUANTLENS_MEMORY_BUDGET_MB: String(s.memoryBudgetMB) });
    const run = { module, transport: TransportKind.ipc, options: { env } };
    const serverOptions: ServerOptions = { run, debug: run };
    // The engine rewrites this file with its running jobs' steps, so a crash can be reported with the model and step.
    const storage = this.context.globalStorageUri.fsPath;
    fs.mkdirSync(storage, { recursive: true });
    const stepFile = path.join(storage, 'engine-steps.json');
    const clientOptions: LanguageClientOptions = {
      documentSelector: [{ scheme: 'file', pattern: '**/*.qrecipe.json' }],
      initializationOptions: { threads: s.threads, memoryBudgetMB: s.memoryBudgetMB, stepFile } satisfies EngineInitOptions,
      errorHandler: {
        error: (_error, _message, count) => ({ action: (count ?? 0) <= 3 ? ErrorAction.Continue : ErrorAction.Shutdown }),
        closed: () => {
          let text: string | undefined;
          try { text = fs.readFileSync(stepFile, 'utf8'); } catch { text = undefined; }
          const message = crashMessage(text);
          // The dead engine's jobs are gone: clear them from the sidebar and the status bar.
          this.jobs = [];
          this.jobsEmitter.fire([]);
          this.output.error(message);
          void vscode.window.showErrorMessage(message);
          // Restart (requests made meanwhile wait for it), unless the engine keeps dying: 5 crashes in 3 minutes.
          const now = Date.now();
          this.crashes = [...this.crashes.filter((t) => now - t < 180_000), now];
          if (this.crashes.length >= 5) {
            void vscode.window.showErrorMessage('The QuantLens engine crashed 5 times in 3 minutes and will not be restarted; see the QuantLens output.');
            return { action: CloseAction.DoNotRestart, handled: true };
          }
          return { action: CloseAction.Restart, handled: true };
        },
      },
      synchronize: { configurationSection: 'quantlens' },
      outputChannel: this.output,
      // Each stderr line at its own level (the default tags every line [error]).
      stdioOptions: {
        stdout: (input, channel) => { readline.createInterface({ input, crlfDelay: Infinity }).on('line', (l) => channel.info(l)); },
        stderr: (input, channel) => { readline.createInterface({ input, crlfDelay: Infinity }).on('line', (l) => channel[engineLineLevel(l)](l)); },
      },
    };
    const client = new LanguageClient('quantlens', 'QuantLens Engine', serverOptions, clientOptions);
    client.onNotification(JobsNotification, ({ jobs }) => { this.jobs = jobs; this.jobsEmitter.fire(jobs); });
    client.onNotification(QatProgressNotification, (p) => this.qatEmitter.fire(p));
    // Failed requests are shown where they were started (view, panel or notification); the log keeps the step.
    client.onNotification(EngineErrorNotification, (e) => this.output.error(`${e.kind ?? 'job'} ${e.job ?? ''} failed at '${e.step}'${e.model ? ` (${e.model})` : ''}: ${e.message}`));
    await client.start();
    this.client = client;
    return client;
  }

  /** Sends a request with a work-done token and, when asked, a partial-result token; cancels with `token`. */
  async request<P extends object, R, PR = never>(type: RequestType<P, R, void>, params: P, token?: vscode.CancellationToken, progress?: RequestProgress<PR>): Promise<R> {
    const client = await this.ready();
    const disposables: vscode.Disposable[] = [];
    const full: Record<string, unknown> = { ...(params as Record<string, unknown>) };
    if (progress?.onWork) {
      const workDoneToken = `ql-work-${++this.tokenSeq}`;
      full.workDoneToken = workDoneToken;
      const onWork = progress.onWork;
      disposables.push(client.onProgress(WorkDoneProgress.type, workDoneToken, (v: WorkDoneProgressBegin | WorkDoneProgressReport | WorkDoneProgressEnd) => {
        if (v.kind === 'end') onWork(v.message, 100);
        else onWork(v.message, v.percentage);
      }));
    }
    if (progress?.partial) {
      const partialResultToken = `ql-partial-${++this.tokenSeq}`;
      full.partialResultToken = partialResultToken;
      disposables.push(client.onProgress(progress.partial.type, partialResultToken, progress.partial.onPartial));
    }
    try {
      return await client.sendRequest(type.method, full, token) as R;
    } finally {
      for (const d of disposables) d.dispose();
    }
  }

  /** Sends a notification to the engine. */
  async notify<P>(type: { method: string }, params: P): Promise<void> {
    const client = await this.ready();
    await client.sendNotification(type.method, params);
  }

  /** Stops the engine. */
  async stop(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.starting = undefined;
    if (c) await c.stop().catch(() => undefined);
  }

  dispose(): void {
    void this.stop();
    this.jobsEmitter.dispose();
    this.qatEmitter.dispose();
  }
}
