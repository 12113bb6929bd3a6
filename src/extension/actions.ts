/** The long-running actions (analyze, QAT, export, evaluate, compare): engine requests under `withProgress` with Cancel. */
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { ResponseError, LSPErrorCodes } from 'vscode-languageclient/node';
import {
  AnalyzePartialResult, AnalyzeRequest, CompareRequest, EvaluateRequest, ExportRequest, QatRequest,
  type CompareParams, type EvaluateResult, type ExportResult, type QatResult, type TensorComparison,
} from '../shared/protocol';
import type { LayerReport, EndToEndMetrics } from '../shared/report';
import type { Recipe } from '../shared/recipe';
import type { EngineClient } from './engine-client';
import { exportNotification } from './export-message';
import type { ModelStore } from './model-store';
import { exportPathFor, qatOutputPathFor, recipePathFor } from './paths';
import { dataSpec, type QuantLensSettings } from './settings';

/** Events of a QAT run, for the QAT panel. */
export type QatEvent =
  | { model: string; kind: 'started'; output: string; totalSteps?: number }
  | { model: string; kind: 'done'; result: QatResult }
  | { model: string; kind: 'error'; message: string; cancelled: boolean };

/** True when an error is the engine's answer to a cancellation. */
export function isCancellation(e: unknown): boolean {
  if (e instanceof ResponseError) return e.code === LSPErrorCodes.RequestCancelled || e.code === LSPErrorCodes.ServerCancelled;
  return e instanceof vscode.CancellationError;
}

/** The message to show for an engine error. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Runs the engine's jobs for the UI. */
export class Actions implements vscode.Disposable {
  private readonly qatEmitter = new vscode.EventEmitter<QatEvent>();
  /** QAT run lifecycle. */
  readonly onQat = this.qatEmitter.event;
  private readonly running = new Map<string, vscode.CancellationTokenSource>();
  private readonly runningEmitter = new vscode.EventEmitter<void>();
  /** A job started or ended. */
  readonly onDidChangeRunning = this.runningEmitter.event;

  constructor(private readonly engine: EngineClient, private readonly store: ModelStore, private readonly settings: () => QuantLensSettings) {}

  private data() {
    const ws = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
    return dataSpec(this.settings(), (p) => (path.isAbsolute(p) || !ws ? p : path.join(ws, p)));
  }

  /** The recipe beside a model, when it exists. */
  recipeFor(model: string): string | undefined {
    const r = recipePathFor(model);
    return fs.existsSync(r) ? r : undefined;
  }

  /** Cancels the panel-started job of a model (`analyze:<model>` etc.). */
  cancel(key: string): boolean {
    const s = this.running.get(key);
    if (!s) return false;
    s.cancel();
    return true;
  }

  /** Keys (`analyze:<model>`, `qat:<model>`, ...) of the jobs started from this window. */
  runningKeys(): string[] { return [...this.running.keys()]; }

  /** True while a job with this key runs. */
  isRunning(key: string): boolean { return this.running.has(key); }

  private async withJob<T>(key: string, title: string, work: (progress: vscode.Progress<{ message?: string; increment?: number }>, token: vscode.CancellationToken) => Promise<T>): Promise<T> {
    const source = new vscode.CancellationTokenSource();
    this.running.set(key, source);
    this.runningEmitter.fire();
    try {
      return await vscode.window.withProgress({ location: vscode.ProgressLocation.Notification, title, cancellable: true }, (progress, token) => {
        token.onCancellationRequested(() => source.cancel());
        return work(progress, source.token);
      });
    } finally {
      this.running.delete(key);
      source.dispose();
      this.runningEmitter.fire();
    }
  }

  /** Analyzes a model; layers stream into the store; the report lands there too. */
  async analyze(model: string, recipe?: string): Promise<void> {
    const key = `analyze:${model}`;
    if (this.running.has(key)) return;
    const s = this.settings();
    this.store.beginAnalysis(model);
    try {
      const report = await this.withJob(key, `QuantLens: analyzing ${path.basename(model)}`, async (progress, token) => {
        let last = 0;
        return this.engine.request(AnalyzeRequest, { model, recipe: recipe ?? this.recipeFor(model), data: this.data(), formats: s.formats.length ? s.formats : undefined, target: s.target }, token, {
          onWork: (message, percentage) => {
            const inc = percentage !== undefined ? Math.max(0, percentage - last) : undefined;
            if (percentage !== undefined) last = Math.max(last, percentage);
            progress.report({ message, increment: inc });
            this.store.setProgress(model, { message, percentage });
          },
          partial: { type: AnalyzePartialResult, onPartial: (layers: LayerReport[]) => this.store.addLayers(model, layers) },
        });
      });
      this.store.endAnalysis(model, report);
    } catch (e) {
      const cancelled = isCancellation(e);
      this.store.setProgress(model, undefined, cancelled ? 'Analysis cancelled.' : errorText(e));
      this.store.endAnalysis(model);
      if (!cancelled) void vscode.window.showErrorMessage(`QuantLens: analysis of ${path.basename(model)} failed: ${errorText(e)}`);
    }
  }

  /** Evaluates one configuration (no notification: it is quick and the panel shows it). */
  async evaluate(model: string, recipe: Recipe): Promise<EvaluateResult> {
    return this.engine.request(EvaluateRequest, { model, recipe, data: this.data() });
  }

  /** Exports a QDQ model; returns undefined when cancelled. */
  async export(model: string, recipe?: Recipe | string, output = exportPathFor(model)): Promise<ExportResult | undefined> {
    try {
      const result = await this.withJob(`export:${model}`, `QuantLens: exporting ${path.basename(output)}`, (progress, token) =>
        this.engine.request(ExportRequest, { model, recipe: recipe ?? this.recipeFor(model), data: this.data(), output }, token, { onWork: (message) => progress.report({ message }) }));
      const note = exportNotification(result, path.basename(result.output));
      void (note.warning ? vscode.window.showWarningMessage : vscode.window.showInformationMessage)(note.text, 'Reveal').then((a) => {
        if (a === 'Reveal') void vscode.commands.executeCommand('revealInExplorer', vscode.Uri.file(result.output));
      });
      return result;
    } catch (e) {
      if (isCancellation(e)) return undefined;
      throw e;
    }
  }

  /** Runs QAT; curve points come as engine notifications (see EngineClient.onQatProgress). */
  async runQat(model: string, opts: { steps?: number; recipe?: Recipe | string } = {}): Promise<QatResult | undefined> {
    const key = `qat:${model}`;
    if (this.running.has(key)) return undefined;
    const output = qatOutputPathFor(model);
    const steps = opts.steps ?? this.settings().qatSteps;
    this.qatEmitter.fire({ model, kind: 'started', output, totalSteps: steps });
    try {
      const result = await this.withJob(key, `QuantLens: QAT of ${path.basename(model)}`, (progress, token) =>
        this.engine.request(QatRequest, { model, recipe: opts.recipe ?? this.recipeFor(model), data: this.data(), steps, output }, token, { onWork: (message) => progress.report({ message }) }));
      this.qatEmitter.fire({ model, kind: 'done', result });
      return result;
    } catch (e) {
      const cancelled = isCancellation(e);
      this.qatEmitter.fire({ model, kind: 'error', message: cancelled ? 'QAT cancelled.' : errorText(e), cancelled });
      if (!cancelled) void vscode.window.showErrorMessage(`QuantLens: QAT of ${path.basename(model)} failed: ${errorText(e)}`);
      return undefined;
    }
  }

  /** Compares a float model with its quantized version tensor by tensor. */
  async compare(params: Omit<CompareParams, 'data'>): Promise<{ tensors: TensorComparison[]; outputs: EndToEndMetrics } | undefined> {
    try {
      return await this.withJob(`compare:${params.float}`, `QuantLens: comparing ${path.basename(params.float)} with ${path.basename(params.quantized)}`, (_p, token) =>
        this.engine.request(CompareRequest, { ...params, data: this.data() }, token));
    } catch (e) {
      if (isCancellation(e)) return undefined;
      throw e;
    }
  }

  dispose(): void {
    for (const s of this.running.values()) s.cancel();
    this.qatEmitter.dispose();
    this.runningEmitter.dispose();
  }
}
