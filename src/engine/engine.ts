/** The engine's state (model caches, jobs, last reports, settings) and the job runner every request goes through. */
import type { CancellationToken, Connection, ProgressToken } from 'vscode-languageserver';
import { WorkDoneProgress } from 'vscode-languageserver';
import { buildInventoryAsync, buildInventory } from '../core/onnx/inventory';
import type { Graph } from '../core/onnx/graph';
import { inferShapes } from '../core/onnx/shapes';
import type { InferenceBackend } from '../core/runtime/backend';
import { defaultThreads, ortBackend } from '../core/runtime/ort-backend';
import { EngineErrorNotification, JobsNotification } from '../shared/protocol';
import type { EngineInitOptions, EngineSettings, EngineStatus, JobKind } from '../shared/protocol';
import type { AnalysisReport } from '../shared/report';
import type { EngineContext, LoadedModel } from './context';
import { isCancellation, toResponseError } from './errors';
import { Job, JobRegistry, JobSlots } from './jobs';
import { ModelCache, resolveModelPath } from './model-cache';

/** Default memory budget for caches, in MB. */
export const DEFAULT_MEMORY_BUDGET_MB = 1024;
/** Default number of heavy jobs running at once. */
export const DEFAULT_MAX_JOBS = 2;

/** Extra data the engine keeps per loaded model beside the inventory. */
export interface ModelExtras {
  /** Tensor shapes from one ORT run on a made-up feed (absent when it failed). */
  shapes?: Map<string, number[]>;
  warnings: string[];
}

/** Engine state shared by the request handlers; implements the context given to the recipe features. */
export class Engine implements EngineContext {
  readonly cache: ModelCache;
  readonly jobs: JobRegistry;
  readonly backend: InferenceBackend;
  private readonly reports = new Map<string, AnalysisReport>();
  private readonly extras = new Map<string, ModelExtras>();
  private readonly reportListeners = new Set<(modelPath: string) => void>();
  /** ONNX Runtime intra-op threads per session. */
  threads: number;
  /** Heavy jobs (all but inspect) running at once; more wait in order. */
  readonly slots = new JobSlots(DEFAULT_MAX_JOBS);
  /** Called with the engine's status whenever the job list changes (the worker tells the main thread). */
  onStatus?: (status: EngineStatus) => void;
  /** Called when a request's job starts, with the request's cancellation token (the worker maps it to the request id). */
  onJobStart?: (job: Job, token: CancellationToken | undefined) => void;

  constructor(private readonly connection: Connection, options: EngineInitOptions = {}, backend?: InferenceBackend) {
    this.backend = backend ?? ortBackend();
    this.threads = options.threads && options.threads >= 1 ? Math.floor(options.threads) : defaultThreads();
    this.cache = new ModelCache(mb(options.memoryBudgetMB), (g) => this.inventoryOf(g), (m) => this.log(m));
    this.jobs = new JobRegistry((jobs) => {
      void this.connection.sendNotification(JobsNotification, { jobs });
      this.onStatus?.(this.status());
    }, { stderr: true, file: options.stepFile });
  }

  /** What `quant/status` answers: cached models, cache use, budget, threads and running jobs. */
  status(): EngineStatus {
    return { models: this.cache.models(), cacheBytes: Math.round(this.cache.usedBytes()), budgetBytes: this.cache.budget, threads: this.threads, jobs: this.jobs.list() };
  }

  /** Applies the initialization options (memory budget, threads, step file). */
  configure(options: EngineInitOptions): void {
    this.applySettings(options);
    if (typeof options.maxJobs === 'number' && options.maxJobs >= 1) this.slots.limit = Math.floor(options.maxJobs);
    if (options.stepFile) this.jobs.setStepFile(options.stepFile);
  }

  /** Applies `quantlens.*` settings (memory budget, threads). */
  applySettings(s: EngineSettings | undefined): void {
    if (!s) return;
    if (typeof s.memoryBudgetMB === 'number' && s.memoryBudgetMB > 0) this.cache.setBudget(mb(s.memoryBudgetMB));
    if (typeof s.threads === 'number' && s.threads >= 0) this.threads = s.threads >= 1 ? Math.floor(s.threads) : defaultThreads(); // 0: the machine's cores
  }

  private async inventoryOf(graph: Graph) {
    const warnings: string[] = [];
    let shapes: Map<string, number[]> | undefined;
    try {
      shapes = await inferShapes(graph.model, this.backend, undefined, { threads: this.threads, file: graph.file });
    } catch (e) {
      warnings.push(`shape inference with ONNX Runtime failed, so MACs and concrete shapes are missing: ${e instanceof Error ? e.message : e}`);
    }
    let inventory;
    try {
      inventory = shapes ? await buildInventoryAsync(graph, this.backend, { shapes }) : buildInventory(graph);
    } catch (e) {
      warnings.push(`weights computed from constants could not be folded, so their statistics are missing: ${e instanceof Error ? e.message : e}`);
      inventory = buildInventory(graph, { shapes });
    }
    this.extras.set(graph.file, { shapes, warnings });
    return inventory;
  }

  /** Warnings and shapes found while loading a model. */
  modelExtras(file: string): ModelExtras {
    return this.extras.get(resolveModelPath(file)) ?? { warnings: [] };
  }

  getModel(path: string): Promise<LoadedModel> {
    return this.cache.get(path);
  }

  peekModel(path: string): LoadedModel | undefined {
    return this.cache.peek(path);
  }

  getLastReport(modelPath: string): AnalysisReport | undefined {
    return this.reports.get(resolveModelPath(modelPath));
  }

  /** Stores a model's latest report and tells the listeners (recipe diagnostics). */
  setLastReport(modelPath: string, report: AnalysisReport): void {
    const key = resolveModelPath(modelPath);
    this.reports.set(key, report);
    for (const l of this.reportListeners) {
      try { l(key); } catch (e) { this.log(`report listener failed: ${e}`); }
    }
  }

  onDidChangeReport(listener: (modelPath: string) => void): () => void {
    this.reportListeners.add(listener);
    return () => this.reportListeners.delete(listener);
  }

  log(message: string): void {
    this.connection.console.log(message);
  }

  /** Releases everything held for a model (on `quant/closeModel`). */
  async closeModel(path: string): Promise<void> {
    const key = resolveModelPath(path);
    for (const j of this.jobs.list()) if (resolveModelPath(j.model) === key) this.jobs.cancel(j.id);
    this.reports.delete(key);
    this.extras.delete(key);
    await this.cache.close(key);
  }

  /** Loads a model for a job and keeps it cached (pinned) until the job ends. */
  async modelForJob(job: Job, path: string): Promise<LoadedModel> {
    job.enter(`loading ${path}`);
    const { model, release } = await this.cache.acquire(path);
    job.onFinish(release);
    job.throwIfCancelled();
    return model;
  }

  /**
   * Runs a request as a job: registers it (JobsNotification), forwards its progress as work-done progress,
   * cancels it with the request, and turns failures into ResponseErrors plus an EngineErrorNotification.
   */
  async runJob<R>(kind: JobKind, model: string, token: CancellationToken | undefined, workDoneToken: ProgressToken | undefined, title: string, fn: (job: Job) => Promise<R>): Promise<R> {
    const job = this.jobs.start(kind, resolveModelPath(model), token);
    this.onJobStart?.(job, token);
    if (workDoneToken !== undefined) {
      void this.connection.sendProgress(WorkDoneProgress.type, workDoneToken, { kind: 'begin', title, cancellable: true, percentage: 0 });
      let last = 0;
      job.onProgress = (message, percentage) => {
        const now = Date.now();
        if (now - last < 100 && percentage !== 100) return;
        last = now;
        void this.connection.sendProgress(WorkDoneProgress.type, workDoneToken, { kind: 'report', message, percentage });
      };
    }
    try {
      if (kind !== 'inspect') {
        if (this.slots.full) job.enter('waiting for another job to finish');
        job.onFinish(await this.slots.acquire(job.signal));
      }
      job.enter('starting');
      const r = await fn(job);
      job.throwIfCancelled();
      return r;
    } catch (e) {
      const err = toResponseError(e, job.step, job.signal);
      if (!isCancellation(e, job.signal)) {
        this.log(`${kind} of ${model} failed while ${job.step}: ${err.message}`);
        void this.connection.sendNotification(EngineErrorNotification, { model: job.info.model, step: job.step, message: err.message, job: job.info.id, kind, code: err.data?.code, file: err.data?.file });
      }
      throw err;
    } finally {
      job.finished();
      this.jobs.finish(job);
      if (workDoneToken !== undefined) void this.connection.sendProgress(WorkDoneProgress.type, workDoneToken, { kind: 'end' });
    }
  }

  /** Cancels all jobs and releases every cache (shutdown). */
  async dispose(): Promise<void> {
    this.jobs.cancelAll();
    await this.cache.closeAll();
  }
}

function mb(v: number | undefined): number {
  return (typeof v === 'number' && v > 0 ? v : DEFAULT_MEMORY_BUDGET_MB) * 1024 * 1024;
}
