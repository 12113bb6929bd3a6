/** Checks that a job's work fits before it starts: samples held in memory against the memory budget, with the numbers. */
import type { DataSource } from './data';
import { QuantLensError } from './errors';

const MB = 1024 * 1024;

/** Bytes one sample of every input takes as float32 (read from the source's first sample; loads one sample only). */
export async function bytesPerSample(data: DataSource): Promise<number> {
  for await (const b of data.batches(1)) {
    let elems = 0;
    for (const t of Object.values(b.feeds)) elems += t.data.length / Math.max(1, t.dims[0] ?? 1);
    return elems * 4;
  }
  return 0;
}

/**
 * Refuses (QuantLensError naming the source) to hold all of `data`'s samples in memory when they need more than
 * `budgetBytes`: `copies` float32 copies of every sample (QAT keeps the batches read and the stacked tensor).
 */
export async function checkSamplesFitMemory(data: DataSource, budgetBytes: number, what: string, copies = 2): Promise<void> {
  const per = await bytesPerSample(data);
  const need = per * data.samples * copies;
  if (need > budgetBytes) {
    const fit = Math.max(1, Math.floor(budgetBytes / Math.max(1, per * copies)));
    throw new QuantLensError('memory-budget',
      `${what} holds all ${data.samples.toLocaleString('en-US')} samples in memory: ${(need / MB).toFixed(0)} MB (${(per / 1024).toFixed(1)} kB per sample x ${copies} copies) exceeds the memory budget of ${(budgetBytes / MB).toFixed(0)} MB; use at most ${fit.toLocaleString('en-US')} samples or raise the budget`,
      data.description.source);
  }
}
