/** Shared job steps: cached float sessions and measuring a model's outputs against the float model's on data. */
import type { DataSource } from '../../core/data';
import { detectOutputLayout, MetricsAccumulator } from '../../core/analysis/metrics';
import { LogitsKernel } from '../../core/analysis/logits-kernel';
import type { RuntimeSession } from '../../core/runtime/backend';
import type { EndToEndMetrics } from '../../shared/report';
import type { LoadedModel } from '../context';
import type { Engine } from '../engine';
import type { Job } from '../jobs';

/** Samples per run when a job measures or calibrates. */
export const JOB_BATCH_SIZE = 8;

/** The float model's session, cached beside the model (counted in the memory budget; released with the job if not cached). */
export async function floatSession(engine: Engine, job: Job, m: LoadedModel): Promise<RuntimeSession> {
  const key = `session:float:${engine.threads}`;
  const hit = engine.cache.getItem<RuntimeSession>(m.path, key);
  if (hit) return hit;
  const s = await engine.backend.createSession(m.path, { threads: engine.threads });
  const raced = engine.cache.getItem<RuntimeSession>(m.path, key);
  if (raced) { await s.release(); return raced; }
  const cached = await engine.cache.setItem(m.path, key, { value: s, bytes: m.fileBytes * 2, dispose: () => s.release() });
  if (!cached) job.onFinish(() => { void s.release(); });
  return s;
}

/** End-to-end metrics of `test` against the float model over `data` (cancellable between batches). */
export async function measureAgainstFloat(engine: Engine, job: Job, m: LoadedModel, test: RuntimeSession, data: DataSource, from = 0, to = 100): Promise<EndToEndMetrics> {
  return (await measureSessions(engine, job, m, [test], data, from, to))[0];
}

/** End-to-end metrics of each of `tests` against the float model over the same batches of `data` (cancellable between batches). */
export async function measureSessions(engine: Engine, job: Job, m: LoadedModel, tests: readonly RuntimeSession[], data: DataSource, from = 0, to = 100): Promise<EndToEndMetrics[]> {
  const ref = await floatSession(engine, job, m);
  const outputs = m.graph.outputs.map((o) => o.name);
  let accs: MetricsAccumulator[] | undefined;
  let done = 0, batches = 0;
  const logits = new LogitsKernel(engine.backend);
  try {
    for await (const batch of data.batches(JOB_BATCH_SIZE)) {
      job.throwIfCancelled();
      const r = await ref.run(batch.feeds, outputs);
      accs ??= tests.map(() => new MetricsAccumulator(detectOutputLayout(r, outputs), logits));
      for (const [i, test] of tests.entries()) await accs[i].add(r, await test.run(batch.feeds, outputs), batch.labels, `${batches}`);
      batches++;
      done += Object.values(batch.feeds)[0]?.dims[0] ?? 1;
      job.progress(`measuring: ${done}/${data.samples} samples`, from + ((to - from) * done) / Math.max(1, data.samples));
    }
  } finally {
    await logits.release();
  }
  if (!accs) throw new Error('the data gave no batch to measure with');
  return accs.map((a) => a.result());
}
