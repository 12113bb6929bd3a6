/** The notification text after an export, with ONNX Runtime's fidelity warnings and fused-vs-exact SQNR. Pure (no vscode). */
import type { ExportResult } from '../shared/protocol';

/** The text and severity of the export notification: a warning when the engine reported one. */
export function exportNotification(result: ExportResult, fileName: string): { warning: boolean; text: string } {
  const kib = (result.sizeBytes / 1024).toFixed(0);
  const fused = result.metrics.sqnrDb.toFixed(1);
  const sqnr = result.exactMetrics
    ? `output SQNR ${fused} dB in ONNX Runtime, ${result.exactMetrics.sqnrDb.toFixed(1)} dB with exact Q/DQ arithmetic`
    : `output SQNR ${fused} dB`;
  const warnings = (result.warnings ?? []).filter((w) => w.trim().length > 0);
  const text = `QuantLens: wrote ${fileName} (${kib} KiB, ${sqnr})`;
  return warnings.length ? { warning: true, text: `${text}. Warning: ${warnings.join(' ')}` } : { warning: false, text };
}
