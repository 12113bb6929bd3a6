/** What the extension knows about each model: inspection, analysis report (cached on disk), streamed layers. */
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { AnalysisReport, LayerReport } from '../shared/report';
import type { ModelInfo } from '../shared/protocol';
import { reportCacheName } from './paths';

/** One model's state. */
export interface ModelState {
  model: string;
  info?: ModelInfo;
  inspectError?: string;
  report?: AnalysisReport;
  /** Layers streamed by a running analysis. */
  partial: LayerReport[];
  analyzing: boolean;
  /** Progress of the running analysis. */
  progress?: { message?: string; percentage?: number };
  /** The last analysis error. */
  error?: string;
}

/** What changed about a model. */
export interface ModelChange { model: string; what: 'info' | 'report' | 'layers' | 'status' | 'removed'; layers?: LayerReport[] }

/** The set of open/analysed models, shared by the sidebar, the editors and the panels. */
export class ModelStore implements vscode.Disposable {
  private readonly models = new Map<string, ModelState>();
  private readonly emitter = new vscode.EventEmitter<ModelChange>();
  /** Fires on every change. */
  readonly onDidChange = this.emitter.event;

  constructor(private readonly storageDir: string | undefined) {}

  /** All known models, in the order they were opened. */
  all(): ModelState[] { return [...this.models.values()]; }

  /** The state of a model, created on first access. */
  get(model: string): ModelState {
    let s = this.models.get(model);
    if (!s) { s = { model, partial: [], analyzing: false }; this.models.set(model, s); }
    return s;
  }

  /** Makes a model known (listed in the sidebar) without opening it. */
  touch(model: string): void {
    if (this.models.has(model) && this.models.get(model)!.info) return;
    const known = this.models.has(model);
    this.get(model);
    if (!known) this.emitter.fire({ model, what: 'info' });
  }

  /** True when the model is known. */
  has(model: string): boolean { return this.models.has(model); }

  /** Records an inspection result or error. */
  setInfo(model: string, info: ModelInfo | undefined, error?: string): void {
    const s = this.get(model);
    s.info = info;
    s.inspectError = error;
    this.emitter.fire({ model, what: 'info' });
  }

  /** Marks an analysis as started: clears streamed layers. */
  beginAnalysis(model: string): void {
    const s = this.get(model);
    s.analyzing = true;
    s.partial = [];
    s.error = undefined;
    s.progress = undefined;
    this.emitter.fire({ model, what: 'status' });
  }

  /** Records analysis progress or an error. */
  setProgress(model: string, progress: { message?: string; percentage?: number } | undefined, error?: string): void {
    const s = this.get(model);
    s.progress = progress;
    if (error !== undefined) s.error = error;
    this.emitter.fire({ model, what: 'status' });
  }

  /** Adds streamed layers. */
  addLayers(model: string, layers: LayerReport[]): void {
    const s = this.get(model);
    s.partial.push(...layers);
    this.emitter.fire({ model, what: 'layers', layers });
  }

  /** Marks the analysis finished (with or without a report). */
  endAnalysis(model: string, report?: AnalysisReport): void {
    const s = this.get(model);
    s.analyzing = false;
    if (report) { s.report = report; s.partial = []; void this.saveReport(model, report); this.emitter.fire({ model, what: 'report' }); }
    this.emitter.fire({ model, what: 'status' });
  }

  /** The report of a model: in memory, else from the storage cache. */
  async report(model: string): Promise<AnalysisReport | undefined> {
    const s = this.get(model);
    if (s.report) return s.report;
    const file = this.cacheFile(model);
    if (!file) return undefined;
    try {
      s.report = JSON.parse(await fs.readFile(file, 'utf8')) as AnalysisReport;
      this.emitter.fire({ model, what: 'report' });
      return s.report;
    } catch { return undefined; }
  }

  /** Forgets a model (closing its editor does not; this is the explicit remove). */
  remove(model: string): void {
    if (this.models.delete(model)) this.emitter.fire({ model, what: 'removed' });
  }

  private cacheFile(model: string): string | undefined {
    return this.storageDir ? path.join(this.storageDir, 'reports', reportCacheName(model)) : undefined;
  }

  private async saveReport(model: string, report: AnalysisReport): Promise<void> {
    const file = this.cacheFile(model);
    if (!file) return;
    try {
      await fs.mkdir(path.dirname(file), { recursive: true });
      const tmp = `${file}.${process.pid}.tmp`;
      await fs.writeFile(tmp, JSON.stringify(report));
      await fs.rename(tmp, file);
    } catch { /* the cache is best effort */ }
  }

  dispose(): void { this.emitter.dispose(); }
}
