/** The notification text after an export, with ONNX Runtime's fidelity warnings and fused-vs-exact SQNR. Pure (no vscode). */
import type { ExportResult } from '../shared/protocol';

/** The text and severity of the export notification: a warning when the engine reported one. */
export function exportNotification(result: ExportResult, fileName: string): { warning: boolean; text: string } {
  const kib = (result.sizeBytes / 1024).toFixed(0);
  // an undefined SQNR (all-zero reference output) arrives as null over JSON
  const db = (v: number | null) => (typeof v === 'number' && Number.isFinite(v) ? `${v.toFixed(1)} dB` : 'undefined (reference output is all zero or not finite)');
  const fused = db(result.metrics.sqnrDb);
  const sqnr = result.exactMetrics
    ? `output SQNR ${fused} in ONNX Runtime, ${db(result.exactMetrics.sqnrDb)} with exact Q/DQ arithmetic`
    : `output SQNR ${fused}`;
  const warnings = (result.warnings ?? []).filter((w) => w.trim().length > 0);
  const text = `QuantLens: wrote ${fileName} (QDQ file ${kib} KiB; float model file ${(result.floatSizeBytes / 1024).toFixed(0)} KiB; ${sqnr})`;
  return warnings.length ? { warning: true, text: `${text}. Warning: ${warnings.join(' ')}` } : { warning: false, text };
}
