/** The engine's job registry: running jobs with progress, cooperative cancellation and a step log for crash reports. */
import * as fs from 'fs';
import type { CancellationToken } from 'vscode-languageserver';
import type { JobInfo, JobKind } from '../shared/protocol';
import { ENGINE_STEP_PREFIX } from '../shared/protocol';

/** Thrown (or used as abort reason) when a job is cancelled. */
export class JobCancelledError extends Error {
  constructor(readonly jobId: string) {
    super(`job ${jobId} was cancelled`);
    this.name = 'JobCancelledError';
  }
}

/** A running job: what it is, how far it got, and the signal the core checks between runs. */
export class Job {
  private readonly controller = new AbortController();
  /** The phase the job is in (also written to the step log before it starts). */
  step = 'starting';
  /** Called on every progress change (the engine forwards it as work-done progress). */
  onProgress?: (message: string | undefined, percentage: number | undefined) => void;
  private readonly finishers: (() => void)[] = [];

  constructor(
    readonly info: JobInfo,
    private readonly registry: JobRegistry,
  ) {}

  /** Aborted when the job is cancelled (request cancelled, CancelJobNotification, engine shutdown). */
  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /** True once cancellation was requested. */
  get cancelled(): boolean {
    return this.controller.signal.aborted;
  }

  /** Requests cancellation; the core stops at its next check between runs. */
  cancel(): void {
    if (!this.controller.signal.aborted) this.controller.abort(new JobCancelledError(this.info.id));
  }

  /** Throws JobCancelledError when cancellation was requested. */
  throwIfCancelled(): void {
    if (this.cancelled) throw new JobCancelledError(this.info.id);
  }

  /** Enters a new phase: logs it (synchronously, so it survives a native crash) and sends the job list. */
  enter(step: string, percentage?: number): void {
    this.step = step;
    this.info.message = step;
    if (percentage !== undefined) this.info.percentage = Math.max(0, Math.min(100, Math.round(percentage)));
    this.registry.logStep(this);
    this.registry.flush(); // phase changes are rare: the job list shows them at once
    this.onProgress?.(step, this.info.percentage);
  }

  /** Records a fine-grained step (e.g. the layer being analysed) in the step file only, not on stderr. */
  at(step: string): void {
    this.step = step;
    this.registry.logStep(this, false);
  }

  /** Runs `fn` when the job ends (releases pins, temporary sessions...). */
  onFinish(fn: () => void): void {
    this.finishers.push(fn);
  }

  /** Called once by the engine when the job ends, successfully or not. */
  finished(): void {
    for (const f of this.finishers.splice(0)) {
      try { f(); } catch { /* a finisher must not hide the job's result */ }
    }
  }

  /** Updates the progress shown for the job without logging a new phase. */
  progress(message: string | undefined, percentage?: number): void {
    if (message !== undefined) this.info.message = message;
    if (percentage !== undefined) this.info.percentage = Math.max(0, Math.min(100, Math.round(percentage)));
    this.registry.changed();
    this.onProgress?.(this.info.message, this.info.percentage);
  }
}

/** Keeps the running jobs, notifies on change (throttled) and logs the current step of each job. */
export class JobRegistry {
  private readonly jobs = new Map<string, Job>();
  private next = 1;
  private pending: NodeJS.Timeout | undefined;

  constructor(
    private readonly notify: (jobs: JobInfo[]) => void,
    private readonly stepLog: { stderr: boolean; file?: string } = { stderr: true },
    private readonly throttleMs = 200,
  ) {}

  /** Sets the file the running jobs' steps are written to. */
  setStepFile(file: string | undefined): void {
    this.stepLog.file = file;
    this.writeStepFile();
  }

  /** Registers a new job; it is cancelled when `token` is. */
  start(kind: JobKind, model: string, token?: CancellationToken): Job {
    const id = `${kind}-${this.next++}`;
    const job = new Job({ id, kind, model, startedAt: new Date().toISOString() }, this);
    this.jobs.set(id, job);
    if (token) {
      if (token.isCancellationRequested) job.cancel();
      token.onCancellationRequested(() => job.cancel());
    }
    this.flush();
    return job;
  }

  /** Removes a finished job. */
  finish(job: Job): void {
    this.jobs.delete(job.info.id);
    this.writeStepFile();
    this.flush();
  }

  /** Cancels a job by id; false when there is no such job. */
  cancel(id: string): boolean {
    const job = this.jobs.get(id);
    job?.cancel();
    return !!job;
  }

  /** Cancels every running job. */
  cancelAll(): void {
    for (const j of this.jobs.values()) j.cancel();
  }

  /** The running jobs. */
  list(): JobInfo[] {
    return [...this.jobs.values()].map((j) => ({ ...j.info }));
  }

  /** A job by id. */
  get(id: string): Job | undefined {
    return this.jobs.get(id);
  }

  /** Schedules a (throttled) job-list notification. */
  changed(): void {
    if (this.pending) return;
    this.pending = setTimeout(() => this.flush(), this.throttleMs);
  }

  /** Sends the job list now. */
  flush(): void {
    if (this.pending) { clearTimeout(this.pending); this.pending = undefined; }
    this.notify(this.list());
  }

  /** Writes the job's step synchronously to stderr and the step file, so a crash report can name it. */
  logStep(job: Job, stderr = true): void {
    if (!stderr) { this.writeStepFile(); return; }
    const line = `${ENGINE_STEP_PREFIX}${JSON.stringify({ job: job.info.id, kind: job.info.kind, model: job.info.model, step: job.step, time: new Date().toISOString() })}\n`;
    if (this.stepLog.stderr) {
      try { fs.writeSync(2, line); } catch { /* stderr closed */ }
    }
    this.writeStepFile();
  }

  /** The step file holds the running jobs' current steps (empty list when idle). */
  private writeStepFile(): void {
    if (!this.stepLog.file) return;
    const state = { pid: process.pid, jobs: [...this.jobs.values()].map((j) => ({ job: j.info.id, kind: j.info.kind, model: j.info.model, step: j.step })) };
    // a temporary file renamed over the old one: a kill mid-write leaves the previous state, never a truncated file
    const tmp = `${this.stepLog.file}.${process.pid}.tmp`;
    try {
      fs.writeFileSync(tmp, JSON.stringify(state));
      fs.renameSync(tmp, this.stepLog.file);
    } catch { /* best effort */ }
  }
}

/** A limit on how many heavy jobs run at once (the machine's cores are shared); the rest wait in order. */
export class JobSlots {
  private running = 0;
  private readonly queue: (() => void)[] = [];

  constructor(public limit: number) {}

  /** True when a job would have to wait. */
  get full(): boolean {
    return this.running >= this.limit;
  }

  /** Waits for a slot (rejects with the signal's reason when cancelled while waiting); returns its release function. */
  async acquire(signal: AbortSignal): Promise<() => void> {
    if (signal.aborted) throw signal.reason;
    if (this.running < this.limit) {
      this.running++;
      return this.releaser();
    }
    await new Promise<void>((resolve, reject) => {
      const go = () => { signal.removeEventListener('abort', onAbort); resolve(); };
      const onAbort = () => {
        const i = this.queue.indexOf(go);
        if (i >= 0) this.queue.splice(i, 1);
        reject(signal.reason);
      };
      this.queue.push(go);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    return this.releaser(); // the slot was handed over by the job that released it
  }

  private releaser(): () => void {
    let done = false;
    return () => {
      if (done) return;
      done = true;
      const next = this.queue.shift();
      if (next) next();
      else this.running--;
    };
  }
}
