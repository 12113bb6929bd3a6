/**
 * Where an analysis spends its time: a backend wrapper that counts session creations and runs per phase, and the
 * wall time of each phase (the caller names the phase it enters). Feeds the report's `timings.phases`.
 */
import type { PhaseCost } from '../../shared/report';
import { InferenceBackend, RuntimeSession, SessionOptions } from './backend';

/** Current resident memory (MB). */
const rssNowMb = () => Math.round(process.memoryUsage.rss() / 2 ** 20);

/** Interval of the resident-memory sampling (ms). */
const RSS_SAMPLE_MS = 20;

/** Wraps a backend; `enter(phase)` charges what follows to that phase. */
export class MeteredBackend implements InferenceBackend {
  readonly phases: Record<string, PhaseCost> = {};
  private phase = 'inventory';
  private since = performance.now();
  private sampler?: ReturnType<typeof setInterval>;

  readonly executionProviders?: () => { name: string; bundled: boolean }[];

  constructor(private readonly inner: InferenceBackend) {
    if (inner.executionProviders) this.executionProviders = () => inner.executionProviders!();
  }

  get version(): string { return this.inner.version; }
  get onBigModelLoad() { return this.inner.onBigModelLoad; }
  set onBigModelLoad(f) { this.inner.onBigModelLoad = f; }

  /** Charges the time since the last call to the current phase and switches to `phase`. */
  enter(phase: string): void {
    const now = performance.now();
    const c = this.cost(this.phase);
    c.ms += now - this.since;
    c.peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
    this.sample();
    this.since = now;
    this.phase = phase;
    this.sampler ??= setInterval(() => this.sample(), RSS_SAMPLE_MS);
    this.sampler.unref?.();
  }

  /** Stops the resident-memory sampling (finish() also does). */
  stop(): void {
    if (this.sampler) clearInterval(this.sampler);
    this.sampler = undefined;
  }

  private sample(): void {
    const c = this.cost(this.phase);
    c.rssMb = Math.max(c.rssMb ?? 0, rssNowMb());
  }

  /** Closes the current phase; returns every phase's cost (rounded ms). */
  finish(): Record<string, PhaseCost> {
    this.enter(this.phase);
    this.stop();
    const out: Record<string, PhaseCost> = {};
    for (const [k, v] of Object.entries(this.phases)) out[k] = { ms: Math.round(v.ms), sessions: v.sessions, sessionMs: Math.round(v.sessionMs), runs: v.runs, runMs: Math.round(v.runMs), ...(v.peakRssMb !== undefined ? { peakRssMb: v.peakRssMb } : {}), ...(v.rssMb !== undefined ? { rssMb: v.rssMb } : {}) };
    return out;
  }

  private cost(phase: string): PhaseCost {
    return (this.phases[phase] ??= { ms: 0, sessions: 0, sessionMs: 0, runs: 0, runMs: 0 });
  }

  async createSession(model: Uint8Array | string, options?: SessionOptions): Promise<RuntimeSession> {
    const t = performance.now();
    const s = await this.inner.createSession(model, options);
    const c = this.cost(this.phase);
    c.sessions++;
    c.sessionMs += performance.now() - t;
    return {
      inputNames: s.inputNames, outputNames: s.outputNames, release: () => s.release(),
      run: async (feeds, fetches, into) => {
        const r0 = performance.now();
        const out = await s.run(feeds, fetches, into);
        const rc = this.cost(this.phase);
        rc.runs++;
        rc.runMs += performance.now() - r0;
        this.sample();
        return out;
      },
    };
  }
}
