/** The QAT panel's view model: training-curve points to uPlot's column arrays. Pure. */

/** One curve point as received. */
export interface CurvePoint { step: number; loss: number; accuracy?: number; agreement?: number }

/** Columns for uPlot: x = steps (sorted, de-duplicated: the last point of a step wins), y = loss/accuracy/agreement (null = gap). */
export function curveData(points: readonly CurvePoint[]): { steps: number[]; loss: (number | null)[]; accuracy: (number | null)[]; agreement: (number | null)[] } {
  const byStep = new Map<number, CurvePoint>();
  for (const p of points) if (Number.isFinite(p.step)) byStep.set(p.step, p);
  const sorted = [...byStep.values()].sort((a, b) => a.step - b.step);
  const val = (v: number | undefined) => (v === undefined || !Number.isFinite(v) ? null : v);
  return {
    steps: sorted.map((p) => p.step),
    loss: sorted.map((p) => val(p.loss)),
    accuracy: sorted.map((p) => val(p.accuracy)),
    agreement: sorted.map((p) => val(p.agreement)),
  };
}

/** The epoch of a training step in words; when every step is a whole epoch (the data fits one batch) it says so instead of "epoch 200". */
export function epochText(epoch: number, step: number): string {
  if (!Number.isFinite(epoch)) return '';
  if (step > 0 && Math.abs(epoch - step) < 1e-9) return 'each step is a full pass over the data (it fits one batch)';
  return `epoch ${epoch < 10 ? epoch.toFixed(2) : epoch.toFixed(1)}`;
}
