/** How ONNX Runtime's fused kernels deviate from the simulated Q/DQ arithmetic, as text for the webviews. Pure. */
import type { EndToEndMetrics } from '../src/shared/report';
import { formatDb } from './format';

/** The fidelity fields an export or evaluation result carries. */
export interface FidelityFields { metrics: EndToEndMetrics; exactMetrics?: EndToEndMetrics; warnings?: string[] }

/** What to show: the fused-vs-exact comparison line (when both runs exist) and the warnings, one sentence each. */
export interface FidelityView { comparison?: string; warnings: string[] }

/** "ONNX Runtime (fused kernels): SQNR a dB · exact Q/DQ arithmetic: SQNR b dB (b − a dB lost)" plus the warnings. */
export function fidelityView(r: FidelityFields): FidelityView {
  const warnings = (r.warnings ?? []).filter((w) => w.trim().length > 0);
  if (!r.exactMetrics) return { warnings };
  const fused = r.metrics.sqnrDb;
  const exact = r.exactMetrics.sqnrDb;
  const gap = Number.isFinite(fused) && Number.isFinite(exact) ? exact - fused : undefined;
  const gapText = gap === undefined ? '' : Math.abs(gap) < 0.05 ? ' (no gap)' : gap > 0 ? ` (${gap.toFixed(1)} dB lost in the fused kernels)` : ` (fused ${(-gap).toFixed(1)} dB better)`;
  return { comparison: `ONNX Runtime (fused kernels): SQNR ${formatDb(fused)} · exact Q/DQ arithmetic: SQNR ${formatDb(exact)}${gapText}`, warnings };
}
